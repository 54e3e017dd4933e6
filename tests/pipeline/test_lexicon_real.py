"""The hotline's words on real recognition: the default model and the bundled lexicon on the demo call (always)
and on a shared call (skipped without ../shared/data)."""

import pytest

from models import CallMeta
from pipeline.evaluation import load_gold
from pipeline.meta import parse_meta
from pipeline.run import run_pipeline

pytestmark = pytest.mark.slow


def _repairs(transcript) -> list[str]:
    return [warning.message.split(" (")[0] for warning in transcript.warnings if warning.code == "repaired"]


def test_the_demo_call_comes_out_with_its_spoken_number_road_and_district(engines, demo_stereo, demo_gold):
    meta = parse_meta(demo_gold.get("metadata") or {}, "demo")
    transcript = run_pipeline(demo_stereo, meta, engines)
    ticket = transcript.ticket

    phone = ticket.fields["phone"]
    if phone.source == "spoken":
        assert phone.value == demo_gold["fields"]["phone"]  # a spoken number is the one said, never a near miss
    else:
        # Whisper base's decode of 幺三九，零零零零，五二八六 differs with the CPU's int8 kernels: on some machines
        # (this project's CI machines of 2026-12-03, old and new code alike) a digit stays lost. The ticket must
        # then not pass off a wrong number: the caller ID, at low confidence, for the operator to check.
        assert (phone.source, phone.value) == ("ani_fallback", meta.caller_number)
        assert phone.confidence < 0.5 and ticket.review != "auto"
    assert ticket.fields["district"].value == "龙华区"
    assert "龙昆南路" in ticket.fields["address"].value
    # what was repaired says so, and the words keep what Whisper wrote
    assert any(message.endswith("→ 龙昆南路") for message in _repairs(transcript))
    repaired_words = [word for turn in transcript.turns for word in turn.words if word.raw is not None]
    assert repaired_words and all(word.raw != word.text for word in repaired_words)


def test_a_shared_call_s_district_heard_as_a_sound_alike_is_repaired(engines, shared_data):
    gold = {call.call_id: call for call in load_gold(shared_data / "calls")}["dev-0012"]
    meta = CallMeta(gold.call_id, gold.meta.caller_number, gold.meta.agent_id, gold.meta.started_at)
    transcript = run_pipeline(gold.audio, meta, engines)

    assert "琼山区" in "".join(turn.text for turn in transcript.turns)
    assert transcript.ticket.fields["district"].value == "琼山区"
    assert any(message.endswith("→ 琼山区") for message in _repairs(transcript))  # heard as 穷山区
