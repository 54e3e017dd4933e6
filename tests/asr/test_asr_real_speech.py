"""The real Whisper base model on real Mandarin speech and on the shared rendered calls.

Skipped with a reason when ../shared/data is absent; the demo call tests in tests/pipeline always run.
"""

import csv
import json

import pytest

from models import CallMeta
from pipeline.evaluation import char_errors, load_gold, score_call
from pipeline.run import run_pipeline

pytestmark = pytest.mark.slow


def _transcribe_clip(engines, path) -> str:
    transcript = run_pipeline(path, CallMeta(call_id=path.stem), engines)
    return "".join(turn.text for turn in transcript.turns)


def _plain_whisper(engines, path) -> str:
    """faster-whisper as most projects call it (the whole file, its own VAD), on the same loaded model."""
    from asr.transcribe import load_whisper

    segments, _ = load_whisper(engines.transcriber.config).transcribe(
        str(path), language="zh", vad_filter=True, beam_size=5
    )
    return "".join(segment.text.strip() for segment in segments)


def test_real_read_speech_clips(engines, shared_data):
    manifest = (shared_data / "speech_real" / "manifest.tsv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(manifest.splitlines(), delimiter="\t"))
    assert len(rows) >= 20
    rows = rows[::2]  # every other clip keeps the test short; bench/asr.py scores all of them
    ours = [0, 0]
    plain = [0, 0]
    for row in rows:
        path = shared_data / "speech_real" / row["file"]
        for total, hypothesis in ((ours, _transcribe_clip(engines, path)), (plain, _plain_whisper(engines, path))):
            errors, chars = char_errors(row["transcript"], hypothesis)
            total[0], total[1] = total[0] + errors, total[1] + chars
    ours_cer, plain_cer = ours[0] / ours[1], plain[0] / plain[1]
    # Whisper base on studio read speech, these clips, on three machines (the int8 arithmetic of the CPU moves
    # it): ours 18.9% / 19.2% / 20.3%, faster-whisper called plainly 21.3% / 17.1% / –. The plain call (its own
    # Silero VAD, 30 s windows of the whole file) swings more between machines than ours, so the comparison keeps
    # 3 points of room; our pipeline (VAD, guards, coverage repair, lexicon repair) must not read real speech
    # clearly worse than the model called plainly, and never past 22%.
    assert ours_cer <= plain_cer + 0.03, (ours_cer, plain_cer)
    assert ours_cer < 0.22, ours_cer


def test_real_speech_clips_with_references(engines, shared_data):
    folder = shared_data / "speech"
    entries = [json.loads(line) for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    scored = [e for e in entries if e.get("transcript")]
    assert scored
    for entry in scored:
        hypothesis = _transcribe_clip(engines, folder / entry["file"])
        e, n = char_errors(entry["transcript"], hypothesis)
        assert e / n < 0.5, (entry["file"], hypothesis)


@pytest.mark.parametrize("call_id", ["dev-0002", "dev-0005", "dev-0014", "dev-0007", "dev-0008"])
def test_shared_calls_yield_both_roles_and_no_hallucination_in_holds(engines, shared_data, call_id):
    gold = next(call for call in load_gold(shared_data / "calls") if call.call_id == call_id)
    transcript = run_pipeline(gold.audio, gold.meta, engines)
    score = score_call(gold, transcript, wall_seconds=1.0)
    assert score.both_roles
    assert score.role_accuracy > 0.8
    assert score.cer < 0.4
    assert score.hallucinated_chars == 0  # dev-0007 has a 14.8 s hold tone, dev-0008 12.6 s of silence
    assert score.der_collar < 0.25
