"""Scoring transcripts against gold calls: CER, DER, role accuracy, hallucinations, speech left
without words, speed.

Gold format: one `<call_id>.json` per call next to its audio (the format of shared/data/calls,
documented in docs/EVALUATION.md): `audio_files[0].path`, `turns[{speaker, start, end, text}]`
with speaker "agent"/"caller", optional `events[{type, start, end}]` (holds) and `metadata`.
"""

import contextlib
import json
import re
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import cn2an
import jiwer
from pyannote.core import Annotation, Timeline
from pyannote.core import Segment as Span
from pyannote.metrics.diarization import DiarizationErrorRate

from asr.chinese import to_simplified
from asr.coverage import untranscribed_seconds
from models import CallMeta, CallTranscript

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_for_cer(text: str) -> str:
    """Compare what was said, not how it was written: simplified script, no punctuation or spaces,
    幺 read as 一, and Chinese numerals as Arabic digits (cn2an), lower case."""
    text = to_simplified(text).replace("幺", "一")
    text = _NON_WORD.sub("", text)
    # cn2an warns about, or refuses, some mixed strings; the text is still comparable as it is
    with warnings.catch_warnings(), contextlib.suppress(ValueError, KeyError, IndexError):
        warnings.simplefilter("ignore", UserWarning)
        text = cn2an.transform(text, "cn2an")
    return text.lower()


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate after `normalize_for_cer` on both sides."""
    ref, hyp = normalize_for_cer(reference), normalize_for_cer(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.cer(ref, hyp))


def char_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit operations, reference length) so corpus CER can be pooled over calls."""
    ref, hyp = normalize_for_cer(reference), normalize_for_cer(hypothesis)
    if not ref:
        return len(hyp), 0
    output = jiwer.process_characters(ref, hyp)
    return output.substitutions + output.deletions + output.insertions, len(ref)


@dataclass
class GoldCall:
    call_id: str
    audio: Path
    layout: str  # "mono" | "stereo"
    format: str
    turns: list[dict]
    events: list[dict]
    meta: CallMeta

    @property
    def text(self) -> str:
        return "".join(turn["text"] for turn in sorted(self.turns, key=lambda t: t["start"]))


def load_gold(folder: Path) -> list[GoldCall]:
    """Every gold call in `folder` (files `*.json` that name an audio file)."""
    calls = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "audio_files" not in data or "turns" not in data:
            continue
        audio = data["audio_files"][0]
        metadata = data.get("metadata", {})
        started = metadata.get("started_at")
        calls.append(
            GoldCall(
                call_id=data.get("call_id", path.stem),
                audio=path.parent / audio["path"],
                layout=data.get("channel_layout", {}).get("type", "mono"),
                format=audio.get("format", Path(audio["path"]).suffix.lstrip(".")),
                turns=data["turns"],
                events=data.get("events", []),
                # as the telephony system would push it: no channel map unless the gold gives one
                meta=CallMeta(
                    call_id=data.get("call_id", path.stem),
                    caller_number=metadata.get("caller_number"),
                    agent_id=metadata.get("agent_id"),
                    started_at=datetime.fromisoformat(started) if started else None,
                    channel_map=metadata.get("channel_map", {}),
                ),
            )
        )
    return calls


@dataclass
class CallScore:
    call_id: str
    layout: str
    format: str
    duration: float
    wall_seconds: float
    cer: float
    char_errors: int
    ref_chars: int
    der: float
    der_collar: float
    role_accuracy: float
    both_roles: bool
    role_method: str
    hallucinated_chars: int
    warnings: int
    untranscribed_s: float = 0.0
    """Seconds of VAD speech no recognised word covers, after the repair (the `untranscribed` warnings)."""
    error: str | None = None


def score_call(gold: GoldCall, transcript: CallTranscript, wall_seconds: float, collar: float = 0.5) -> CallScore:
    hypothesis_text = "".join(turn.text for turn in transcript.turns)
    errors, ref_len = char_errors(gold.text, hypothesis_text)
    reference = Annotation(uri=gold.call_id)
    for index, turn in enumerate(gold.turns):
        reference[Span(turn["start"], turn["end"]), index] = turn["speaker"]
    hypothesis = Annotation(uri=gold.call_id)
    for index, turn in enumerate(transcript.turns):
        if turn.end > turn.start:
            hypothesis[Span(turn.start, turn.end), index] = turn.speaker
    # scored over the whole recording, so speech invented in silence counts as false alarm
    uem = Timeline([Span(0.0, max(transcript.duration, reference.get_timeline().extent().end))])
    der = DiarizationErrorRate(collar=0.0)(reference, hypothesis, uem=uem)
    der_collar = DiarizationErrorRate(collar=collar)(reference, hypothesis, uem=uem)
    return CallScore(
        call_id=gold.call_id,
        layout=gold.layout,
        format=gold.format,
        duration=transcript.duration,
        wall_seconds=round(wall_seconds, 3),
        cer=round(errors / ref_len, 4) if ref_len else 0.0,
        char_errors=errors,
        ref_chars=ref_len,
        der=round(float(der), 4),
        der_collar=round(float(der_collar), 4),
        role_accuracy=round(role_accuracy(gold.turns, transcript), 4),
        both_roles={turn.role for turn in transcript.turns} >= {"agent", "caller"},
        role_method=transcript.diarization.get("role_method", ""),
        hallucinated_chars=_chars_inside(transcript, gold.events),
        warnings=len(transcript.warnings),
        untranscribed_s=untranscribed_seconds(transcript.warnings),
    )


def role_accuracy(gold_turns: list[dict], transcript: CallTranscript) -> float:
    """Share of gold speech time covered by a hypothesis turn of the same role.

    Time covered by no hypothesis turn counts as wrong, so missed speech lowers the score.
    """
    total = correct = 0.0
    for gold in gold_turns:
        total += gold["end"] - gold["start"]
        for turn in transcript.turns:
            if turn.role == gold["speaker"]:
                correct += max(0.0, min(gold["end"], turn.end) - max(gold["start"], turn.start))
    return correct / total if total else 0.0


def _chars_inside(transcript: CallTranscript, events: list[dict]) -> int:
    count = 0
    for event in events:
        for turn in transcript.turns:
            for word in turn.words:
                middle = (word.start + word.end) / 2
                if event["start"] <= middle <= event["end"]:
                    count += len(normalize_for_cer(word.text))
    return count


@dataclass
class EvalReport:
    calls: list[CallScore]
    summary: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"summary": self.summary, "calls": [asdict(call) for call in self.calls]}


def summarize(scores: list[CallScore]) -> dict[str, dict]:
    """Pooled metrics over all calls and per channel layout."""
    groups = {"all": scores}
    for layout in sorted({score.layout for score in scores}):
        groups[layout] = [score for score in scores if score.layout == layout]
    summary = {}
    for name, group in groups.items():
        ok = [score for score in group if score.error is None]
        audio = sum(score.duration for score in ok)
        wall = sum(score.wall_seconds for score in ok)
        ref = sum(score.ref_chars for score in ok)
        summary[name] = {
            "calls": len(group),
            "failed": len(group) - len(ok),
            "cer": round(sum(score.char_errors for score in ok) / ref, 4) if ref else None,
            "der": _weighted(ok, "der"),
            "der_collar": _weighted(ok, "der_collar"),
            "role_accuracy": _weighted(ok, "role_accuracy"),
            "both_roles": sum(score.both_roles for score in ok),
            "hallucinated_chars": sum(score.hallucinated_chars for score in ok),
            "untranscribed_s": round(sum(score.untranscribed_s for score in ok), 1),
            "audio_seconds": round(audio, 1),
            "speed_x_realtime": round(audio / wall, 2) if wall else None,
        }
    return summary


def evaluate(
    calls: Iterable[GoldCall],
    transcribe: Callable[[GoldCall], CallTranscript],
    progress: Callable[[GoldCall], None] | None = None,
) -> EvalReport:
    """Run `transcribe` on each gold call and score it; a failing call is recorded, not fatal."""
    scores = []
    for gold in calls:
        if progress:
            progress(gold)
        started = time.perf_counter()
        try:
            transcript = transcribe(gold)
        except Exception as error:  # one bad call must not hide the scores of the others
            scores.append(
                CallScore(
                    gold.call_id,
                    gold.layout,
                    gold.format,
                    0,
                    0,
                    1.0,
                    0,
                    0,
                    1.0,
                    1.0,
                    0.0,
                    False,
                    "",
                    0,
                    0,
                    error=f"{type(error).__name__}: {error}",
                )
            )
            continue
        scores.append(score_call(gold, transcript, time.perf_counter() - started))
    return EvalReport(scores, summarize(scores))


def _weighted(scores: list[CallScore], attribute: str) -> float | None:
    total = sum(score.duration for score in scores)
    if not total:
        return None
    return round(sum(getattr(score, attribute) * score.duration for score in scores) / total, 4)
