"""Scoring: CER normalisation, DER, role accuracy, pooling."""

import pytest

from models import CallMeta, CallTranscript, PipelineWarning, Turn, Word
from pipeline.evaluation import GoldCall, cer, char_errors, normalize_for_cer, role_accuracy, score_call, summarize


@pytest.mark.parametrize(
    "spoken, written",
    [
        ("幺三八，一二三四，五六七八。", "13812345678"),
        ("二零一八年一月十三号十二点左右", "2018年1月13号12点左右"),
        ("三号楼二单元", "3号楼2单元"),
        ("這個號碼", "这个号码"),
        ("您好！ 请问，有什么可以帮您？", "您好请问有什么可以帮您"),
    ],
)
def test_spoken_and_written_forms_normalise_alike(spoken, written):
    assert normalize_for_cer(spoken) == normalize_for_cer(written)
    assert cer(spoken, written) == 0.0


def test_cer_counts_substitutions_against_the_reference():
    assert cer("秀英区", "修英区") == pytest.approx(1 / 3)
    assert char_errors("秀英区", "修英区") == (1, 3)
    assert cer("", "") == 0.0 and cer("", "多余") == 1.0


def _turn(role, speaker, start, end, text="好"):
    return Turn(role, speaker, None, start, end, text, 0.9, [Word(start, end, text, 0.9)])


def _gold(turns):
    return GoldCall("g1", audio=None, layout="mono", format="wav", turns=turns, events=[], meta=CallMeta("g1"))


def _transcript(turns, call_id="g1", duration=10.0, channels=1):
    return CallTranscript(call_id, duration, 8000, channels, "zh", "m", turns)


def _perfect():
    return _transcript(
        [_turn("agent", "SPEAKER_00", 0.0, 4.0, "您好热线"), _turn("caller", "SPEAKER_01", 5.0, 9.0, "我要投诉")]
    )


GOLD_TURNS = [
    {"speaker": "agent", "start": 0.0, "end": 4.0, "text": "您好热线"},
    {"speaker": "caller", "start": 5.0, "end": 9.0, "text": "我要投诉"},
]


def test_a_perfect_hypothesis_scores_zero_der_and_full_role_accuracy():
    transcript = _perfect()
    score = score_call(_gold(GOLD_TURNS), transcript, wall_seconds=2.0)
    assert score.cer == 0.0 and score.der == 0.0 and score.der_collar == 0.0
    assert score.role_accuracy == 1.0 and score.both_roles


def test_swapped_roles_score_zero_role_accuracy_but_zero_der():
    transcript = _transcript([_turn("caller", "SPEAKER_00", 0.0, 4.0), _turn("agent", "SPEAKER_01", 5.0, 9.0)])
    assert role_accuracy(GOLD_TURNS, transcript) == 0.0
    assert score_call(_gold(GOLD_TURNS), transcript, 1.0).der == 0.0  # DER maps labels optimally


def test_missed_speech_lowers_role_accuracy_and_raises_der():
    transcript = _transcript([_turn("agent", "SPEAKER_00", 0.0, 4.0)])
    score = score_call(_gold(GOLD_TURNS), transcript, 1.0)
    assert score.role_accuracy == pytest.approx(0.5)
    assert score.der == pytest.approx(0.5)
    assert not score.both_roles


def test_summary_pools_characters_and_weights_by_duration():
    transcript = _perfect()
    perfect = score_call(_gold(GOLD_TURNS), transcript, 5.0)
    bad = score_call(_gold(GOLD_TURNS), _transcript([], "g2", 30.0, 2), 5.0)
    bad.layout = "stereo"
    summary = summarize([perfect, bad])
    assert summary["all"]["cer"] == pytest.approx(8 / 16)
    assert summary["mono"]["cer"] == 0.0 and summary["stereo"]["cer"] == 1.0
    assert summary["all"]["speed_x_realtime"] == pytest.approx(40 / 10)
    assert summary["all"]["both_roles"] == 1


def test_speech_without_words_is_summed_per_call_and_over_calls():
    transcript = _perfect()
    transcript.warnings = [
        PipelineWarning("untranscribed", "no words recognised in 3.5 s of speech", 9.0, 12.5),
        PipelineWarning("untranscribed", "no words recognised in 1.2 s of speech", 20.0, 21.2),
        PipelineWarning("repetition", "collapsed a repetition loop", 1.0, 4.0),
    ]
    score = score_call(_gold(GOLD_TURNS), transcript, 1.0)
    assert score.untranscribed_s == pytest.approx(4.7)
    clean = score_call(_gold(GOLD_TURNS), _perfect(), 1.0)
    assert clean.untranscribed_s == 0.0
    assert summarize([score, clean])["all"]["untranscribed_s"] == pytest.approx(4.7)
