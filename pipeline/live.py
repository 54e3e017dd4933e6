"""One call transcribed while it happens: PCM chunks in, speaker turns out as each utterance ends.

`LiveTranscriber` is `run_pipeline` for audio that is still arriving, on the same engines:

    feed(pcm) ─► asr.stream_vad.ChannelSegmenter per channel (webrtcvad frames, closes an utterance after
                 `end_silence_ms` of silence) ─► each closed utterance, alone: asr.audio.resample_pcm16
                 ─► engines.transcriber ─► asr.guards ─► speakers (stereo: the channel; mono:
                 asr.diarize.online.OnlineSpeakers) ─► asr.turns.build_turns ─► engines.reviser
                 ─► roles (asr.roles.assign_roles on each speaker's first turns) ─► the turns it returns

A turn's identity is `turn_key`: its channel (0 on mono) and its first sample. Restarts: `checkpoint()`
is small JSON (each channel's restart point, the online speakers, the opening turns roles are read from,
the last turn's text); a new `LiveTranscriber(..., start_sample=c["committed_sample"], state=c)` fed the
call's audio from `committed_sample` on makes the same decisions as the one that stopped, and hands out
each utterance exactly once. What it cannot know after a restart are the turns handed out before it:
`transcript(earlier=...)` takes those (the caller saved them) to give the whole call.

Differences from batch, by design: an utterance is decoded with at most the previous turn's text as
context (batch windows hold up to 30 s of a channel's speech), and the lexicon repair sees one utterance
at a time (batch lets a place repaired once in the call be repaired more easily elsewhere).
"""

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from asr.audio import TARGET_SAMPLE_RATE, resample_pcm16
from asr.coverage import untranscribed_warnings
from asr.diarize.base import DiarizationResult, speaker_label
from asr.diarize.online import OnlineSpeakerOptions, OnlineSpeakers
from asr.guards import apply_guards
from asr.roles import assign_roles
from asr.stream_vad import WEBRTC_RATES, ChannelPosition, ChannelSegmenter, StreamVadOptions, Utterance
from asr.turns import build_turns
from models import CallMeta, CallTranscript, PipelineWarning, Segment, SpeechSpan, Turn
from pipeline.run import Engines, PipelineOptions

__all__ = ["CHECKPOINT_VERSION", "LiveFormat", "LiveOptions", "LiveTranscriber", "turn_key"]

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
ROLE_NAMES = {"agent": "agent", "operator": "agent", "caller": "caller"}
"""Channel roles a telephony system may send, to the transcript's roles ("operator" is the agent)."""


@dataclass(frozen=True)
class LiveFormat:
    """The live stream's audio: int16 PCM at `sample_rate`, `channels` interleaved.

    channel_roles: channel index → "operator" (or "agent") / "caller". Empty on mono, where roles are
    unknown and found from the voices; on a stereo call without it roles come from the greeting.
    """

    sample_rate: int
    channels: int
    channel_roles: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sample_rate not in WEBRTC_RATES:
            raise ValueError(f"live audio must be 8, 16, 32 or 48 kHz, got {self.sample_rate} Hz")
        if self.channels not in (1, 2):
            raise ValueError(f"live audio has 1 or 2 channels, got {self.channels}")
        if self.channels == 1 and self.channel_roles:
            raise ValueError("a mono stream has no channel roles: its speakers are told apart by voice")
        for channel, role in self.channel_roles.items():
            if not isinstance(channel, int) or not 0 <= channel < self.channels:
                raise ValueError(f"channel_roles names channel {channel!r}, the stream has {self.channels}")
            if role not in ROLE_NAMES:
                raise ValueError(f'channel roles are "operator" or "caller", got {role!r}')


@dataclass(frozen=True)
class LiveOptions:
    """Knobs of live transcription (measured with bench/live_asr.py, docs/BENCHMARKS.md).

    segmentation: when an utterance closes (its `end_silence_ms` is most of the latency).
    speakers: online speaker assignment on mono calls.
    prompt_previous: decode an utterance with the previous turn's text as Whisper's prompt, the context a
        batch window has and a lone utterance lacks.
    lean: decode an utterance with one decode and nothing else (`FasterWhisperTranscriber.for_live`): its
        latency holds no temperature fallback and no second pass; off, it is decoded as batch decodes a window.
    beam_size: the lean decode's beam (1: greedy). Greedy lost 4-12 points of CER on the demo call against
        beam 5 for a fifth less decoding time (docs/BENCHMARKS.md).
    encoder_min_s: the lean decode's encoder sees the utterance (at least this long) instead of Whisper's 30 s
        window, four to five times less decoding time; None: the full window.
    """

    segmentation: StreamVadOptions = field(default_factory=StreamVadOptions)
    speakers: OnlineSpeakerOptions = field(default_factory=OnlineSpeakerOptions)
    prompt_previous: bool = False
    lean: bool = True
    beam_size: int = 5
    encoder_min_s: float | None = 10.0


def turn_key(turn: Turn, sample_rate: int) -> tuple[int, int]:
    """A turn's identity across restarts: (channel, first sample); a mono turn's channel is 0."""
    return (turn.channel or 0, round(turn.start * sample_rate))


class LiveTranscriber:
    """Transcribes one call as its audio is fed in; see the module docstring."""

    def __init__(
        self,
        engines: Engines,
        fmt: LiveFormat,
        meta: CallMeta,
        *,
        options: PipelineOptions | None = None,
        start_sample: int = 0,
        state: dict | None = None,
        live: LiveOptions | None = None,
    ):
        self.engines = engines
        self.live = live or LiveOptions()
        self._transcriber = engines.transcriber
        if self.live.lean and hasattr(engines.transcriber, "for_live"):
            self._transcriber = engines.transcriber.for_live(self.live.beam_size, self.live.encoder_min_s)
        self.format = fmt
        self.meta = meta
        self.options = options or PipelineOptions()
        if state is not None and state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"unknown live checkpoint version {state.get('version')!r}")
        state = state or {}
        frame_len = fmt.sample_rate * self.live.segmentation.vad.frame_ms // 1000
        positions = [ChannelPosition(**p) for p in state.get("channels", [])] or [
            ChannelPosition.at(start_sample, frame_len) for _ in range(fmt.channels)
        ]
        if len(positions) != fmt.channels:
            raise ValueError(f"the checkpoint has {len(positions)} channels, the stream {fmt.channels}")
        if start_sample > min(position.resume_sample for position in positions):
            raise ValueError(f"start_sample {start_sample} is after the checkpoint's committed sample: audio lost")
        self._segmenters = [
            ChannelSegmenter(fmt.sample_rate, self.live.segmentation, channel, position)
            for channel, position in enumerate(positions)
        ]
        self._fed = start_sample
        self._speakers = None
        if fmt.channels == 1:
            encoder = getattr(engines.mono_diarizer, "encoder", None)
            if encoder is None:  # a backend without its own voice encoder (pyannote): the default one
                from asr.diarize.embedding import ResemblyzerEncoder

                encoder = ResemblyzerEncoder()
            self._speakers = OnlineSpeakers(encoder, self.live.speakers, state.get("speakers"))
        self._opening = [_opening_turn(item) for item in state.get("opening", [])]
        self._previous_text: str = state.get("previous_text", "")
        self._turns: list[Turn] = []
        self._warnings: list[PipelineWarning] = []
        self._speech_seconds = 0.0
        self._decode_seconds = 0.0
        self.utterances: list[Utterance] = []
        """Every utterance decoded so far, in the order they closed, without their samples kept (benchmarks)."""

    @property
    def committed_sample(self) -> int:
        """Every sample before it is in an emitted turn or silence, on every channel."""
        return min(segmenter.position.resume_sample for segmenter in self._segmenters)

    def feed(self, pcm: np.ndarray) -> list[Turn]:
        """The next samples of the call (int16, (n,) mono or (n, channels)); the turns they complete."""
        pcm = self._checked(pcm)
        start = self._fed
        self._fed += len(pcm)
        closed: list[Utterance] = []
        for channel, segmenter in enumerate(self._segmenters):
            skip = max(0, segmenter.fed - start)  # a channel restarted after the committed sample
            if skip < len(pcm):
                closed.extend(segmenter.feed(np.ascontiguousarray(pcm[skip:, channel])))
        return self._decode_all(closed)

    def finish(self) -> list[Turn]:
        """The call ended: the turns of what was still being said."""
        return self._decode_all([u for segmenter in self._segmenters for u in segmenter.finish()])

    def checkpoint(self) -> dict:
        """JSON-serialisable: where to restart (`committed_sample`) and what the restarted one must know."""
        return {
            "version": CHECKPOINT_VERSION,
            "committed_sample": self.committed_sample,
            "channels": [dataclasses.asdict(segmenter.position) for segmenter in self._segmenters],
            "speakers": self._speakers.state() if self._speakers is not None else None,
            "opening": [
                {"speaker": t.speaker, "channel": t.channel, "start": t.start, "text": t.text} for t in self._opening
            ],
            "previous_text": self._previous_text,
        }

    def transcript(self, earlier: list[Turn] | None = None) -> CallTranscript:
        """The call so far in the batch schema: the turns handed out by this transcriber and `earlier` ones
        (those handed out before a restart; a turn in both counts once), roles read again from all evidence."""
        rate = self.format.sample_rate
        by_key = {turn_key(turn, rate): turn for turn in [*(earlier or []), *self._turns]}
        assignment = self._roles()
        turns = [
            dataclasses.replace(turn, role=assignment.roles.get(turn.speaker, turn.role or "caller"))
            for turn in sorted(by_key.values(), key=lambda t: (t.start, t.channel or 0))
        ]
        warnings = list(self._warnings)
        for role in ("agent", "caller"):
            if role not in {turn.role for turn in turns}:
                warnings.append(PipelineWarning("missing_role", f"no {role} speech was recognised"))
        return CallTranscript(
            call_id=self.meta.call_id,
            duration=round(self._fed / rate, 3),
            sample_rate=rate,
            channels=self.format.channels,
            language=self.options.language,
            model=self.engines.transcriber.model_name,
            turns=turns,
            diarization={
                "backend": "channel" if self._speakers is None else OnlineSpeakers.name,
                "speakers": sorted(assignment.roles),
                "roles": assignment.roles,
                "role_method": assignment.method,
            },
            timings={"transcribe": round(self._decode_seconds, 3)},
            warnings=warnings,
            metadata={
                "agent_id": self.meta.agent_id,
                "started_at": self.meta.started_at.isoformat() if self.meta.started_at else None,
                "channel_map": self._channel_map(),
                "codec": "pcm_s16le",
                "speech_seconds": round(self._speech_seconds, 3),
                "live": True,
            },
        )

    # one utterance

    def _decode_all(self, closed: list[Utterance]) -> list[Turn]:
        # in the order they closed on the call's timeline, so chunk sizes do not change what is learnt
        closed.sort(key=lambda u: (u.decided_at, u.channel))
        return [turn for utterance in closed for turn in self._decode(utterance)]

    def _decode(self, utterance: Utterance) -> list[Turn]:
        started = time.perf_counter()
        rate = self.format.sample_rate
        samples = resample_pcm16(utterance.samples, rate)
        offset = utterance.start / rate
        span = SpeechSpan(round(offset, 3), round(offset + len(samples) / TARGET_SAMPLE_RATE, 3), utterance.channel)
        transcriber = self._transcriber
        if self.live.prompt_previous and self._previous_text and hasattr(transcriber, "with_prompt"):
            transcriber = transcriber.with_prompt(self._previous_text)
        raw = transcriber.transcribe(samples, [SpeechSpan(0.0, span.duration, utterance.channel)], utterance.channel)
        segments = [_shifted(segment, offset) for segment in raw]
        kept, dropped = apply_guards(segments, self.options.hotwords, self.options.guards)
        self._warnings.extend(dropped)
        self._warnings.extend(untranscribed_warnings([span], kept, self.options.coverage))
        if self._speakers is None:
            label = speaker_label(utterance.channel)
            diarization = DiarizationResult(
                _empty_annotation(), "channel", by_channel=True, channel_labels={utterance.channel: label}
            )
        else:
            diarization = self._speakers.assign(samples, offset)
        turns = build_turns(kept, diarization, self.options.turns)
        if self.engines.reviser is not None:
            self._warnings.extend(self.engines.reviser.revise(turns))
        for turn in turns:
            self._remember_opening(turn)
        roles = self._roles().roles
        for turn in turns:
            turn.role = roles.get(turn.speaker, "caller")
        if turns:
            self._previous_text = turns[-1].text
        self._turns.extend(turns)
        self._speech_seconds += span.duration
        self._decode_seconds += time.perf_counter() - started
        self.utterances.append(dataclasses.replace(utterance, samples=np.zeros(0, dtype=np.int16)))
        return turns

    def _remember_opening(self, turn: Turn) -> None:
        """Keep each speaker's first turns: all the role rules read (greeting, who spoke first)."""
        greeting_turns = self.options.roles.greeting_turns
        if sum(1 for kept in self._opening if kept.speaker == turn.speaker) < greeting_turns:
            self._opening.append(
                _opening_turn(
                    {"speaker": turn.speaker, "channel": turn.channel, "start": turn.start, "text": turn.text}
                )
            )

    def _roles(self):
        voiceprint = self.engines.voiceprints(self.meta.agent_id) if self.meta.agent_id else None
        channel_labels = (
            {channel: speaker_label(channel) for channel in range(self.format.channels)}
            if self._speakers is None
            else None
        )
        return assign_roles(
            self._opening,
            dataclasses.replace(self.meta, channel_map=self._channel_map()),
            channel_labels=channel_labels,
            embeddings=self._speakers.centroids if self._speakers is not None else None,
            agent_voiceprint=voiceprint,
            options=self.options.roles,
        )

    def _channel_map(self) -> dict[str, str]:
        if self.format.channel_roles:
            return {str(channel): ROLE_NAMES[role] for channel, role in self.format.channel_roles.items()}
        return dict(self.meta.channel_map) if self.format.channels > 1 else {}

    def _checked(self, pcm: np.ndarray) -> np.ndarray:
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16:
            raise ValueError(f"live audio is int16 PCM, got {pcm.dtype}")
        if pcm.ndim == 1 and self.format.channels == 1:
            return pcm.reshape(-1, 1)
        if pcm.ndim != 2 or pcm.shape[1] != self.format.channels:
            raise ValueError(f"expected samples shaped (n, {self.format.channels}), got {pcm.shape}")
        return pcm


def _shifted(segment: Segment, offset: float) -> Segment:
    """A segment decoded from one utterance, moved to the call's timeline."""
    words = [
        dataclasses.replace(w, start=round(w.start + offset, 3), end=round(w.end + offset, 3)) for w in segment.words
    ]
    return dataclasses.replace(
        segment, start=round(segment.start + offset, 3), end=round(segment.end + offset, 3), words=words
    )


def _opening_turn(item: dict) -> Turn:
    start = float(item["start"])
    return Turn("", str(item["speaker"]), item.get("channel"), start, start, str(item["text"]), 1.0, [])


def _empty_annotation():
    from pyannote.core import Annotation

    return Annotation()
