"""run_pipeline(): one recording in, one speaker-attributed transcript out.

decode → VAD → transcribe (per channel) → guards → diarize → words to turns → repair (the hotline's
lexicon, by sound) → roles.
The CLI calls this in-process; the service's worker calls the same function.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from asr.audio import DecodeOptions, load_audio
from asr.coverage import CoverageOptions, untranscribed_warnings
from asr.guards import GuardOptions, apply_guards
from asr.ports import Diarizer, SpeechDetector, Transcriber
from asr.roles import RoleOptions, assign_roles
from asr.turns import TurnOptions, build_turns
from models import CallMeta, CallTranscript, NoSpeechError, PipelineWarning, Ticket, Turn

logger = logging.getLogger(__name__)

StageHook = Callable[..., None]
"""Called as hook(stage, completed=None, total=None) when a stage starts and as it progresses."""

STAGES = ("decode", "vad", "transcribe", "diarize", "repair", "roles", "extract")


class Extractor(Protocol):
    """Pre-fills the work order from a finished transcript (real adapter: extract.ticket.TicketExtractor)."""

    def extract(self, transcript: CallTranscript, meta: CallMeta) -> Ticket:
        """The ticket for this call; never raises on odd transcripts (warnings say what was wrong)."""


class Reviser(Protocol):
    """Repairs recognised turns with what the hotline knows (real adapter: extract.repair.LexiconReviser)."""

    def revise(self, turns: list[Turn]) -> list[PipelineWarning]:
        """Rewrite turns in place (words keep what was heard in `raw`); a warning per repair."""


@dataclass
class Engines:
    """The adapters a run uses; built once per process (see pipeline.factory) and reused."""

    speech_detector: SpeechDetector
    transcriber: Transcriber
    mono_diarizer: Diarizer
    stereo_diarizer: Diarizer
    voiceprints: Callable[[str], np.ndarray | None] = lambda agent_id: None
    extractor: Extractor | None = None
    reviser: Reviser | None = None


@dataclass(frozen=True)
class PipelineOptions:
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    guards: GuardOptions = field(default_factory=GuardOptions)
    coverage: CoverageOptions = field(default_factory=CoverageOptions)
    turns: TurnOptions = field(default_factory=TurnOptions)
    roles: RoleOptions = field(default_factory=RoleOptions)
    hotwords: tuple[str, ...] = ()
    language: str = "zh"


def run_pipeline(
    source: str | Path | bytes | BinaryIO,
    meta: CallMeta,
    engines: Engines,
    options: PipelineOptions | None = None,
    hook: StageHook | None = None,
) -> CallTranscript:
    """Transcribe one call. Raises AudioDecodeError, AudioTooLongError, NoSpeechError, ModelLoadError."""
    options = options or PipelineOptions()
    hook = hook or (lambda *args, **kwargs: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def stage(name: str):
        hook(name)
        return _Timer(timings, name)

    with stage("decode"):
        audio = load_audio(source, options.decode)
    with stage("vad"):
        speech = engines.speech_detector.detect(audio)
    if not speech:
        raise NoSpeechError(f"no speech found in {audio.duration:.1f} s of audio")

    warnings: list[PipelineWarning] = []
    segments = []
    with stage("transcribe"):
        for channel, samples in enumerate(audio.channels):
            hook("transcribe", completed=channel, total=len(audio.channels))
            channel_spans = [span for span in speech if span.channel == channel]
            raw = engines.transcriber.transcribe(samples, channel_spans, channel)
            kept, dropped = apply_guards(raw, options.hotwords, options.guards)
            segments.extend(kept)
            warnings.extend(dropped)
            warnings.extend(untranscribed_warnings(channel_spans, kept, options.coverage))

    diarizer = engines.stereo_diarizer if audio.is_stereo else engines.mono_diarizer
    with stage("diarize"):
        diarization = diarizer.diarize(audio, speech)
        turns = build_turns(segments, diarization, options.turns)
    if engines.reviser is not None:
        with stage("repair"):
            warnings.extend(engines.reviser.revise(turns))

    with stage("roles"):
        voiceprint = engines.voiceprints(meta.agent_id) if meta.agent_id else None
        assignment = assign_roles(
            turns,
            meta,
            channel_labels=diarization.channel_labels,
            embeddings=diarization.embeddings,
            agent_voiceprint=voiceprint,
            options=options.roles,
        )
        for turn in turns:
            turn.role = assignment.roles.get(turn.speaker, "caller")
        present = {turn.role for turn in turns}
        for role in ("agent", "caller"):
            if role not in present:
                warnings.append(PipelineWarning("missing_role", f"no {role} speech was recognised"))

    transcript = CallTranscript(
        call_id=meta.call_id,
        duration=round(audio.duration, 3),
        sample_rate=audio.source_sample_rate,
        channels=audio.source_channels,
        language=options.language,
        model=engines.transcriber.model_name,
        turns=turns,
        diarization={
            "backend": diarization.backend,
            "speakers": sorted(assignment.roles),
            "roles": assignment.roles,
            "role_method": assignment.method,
        },
        timings=timings,
        warnings=warnings,
        metadata={
            "agent_id": meta.agent_id,
            "started_at": meta.started_at.isoformat() if meta.started_at else None,
            "channel_map": meta.channel_map,
            "codec": audio.codec,
            "speech_seconds": round(sum(span.duration for span in speech), 3),
        },
    )
    if engines.extractor is not None:
        with stage("extract"):
            transcript.ticket = engines.extractor.extract(transcript, meta)
    timings["total"] = round(time.perf_counter() - started, 3)
    return transcript


class _Timer:
    def __init__(self, timings: dict[str, float], name: str):
        self.timings, self.name = timings, name

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.timings[self.name] = round(self.timings.get(self.name, 0.0) + time.perf_counter() - self.start, 3)
        return False
