"""Subtitles are read by people: a phone number Whisper wrote in groups with stray commas reads as digits in srt
and vtt; json keeps the words as recognised."""

import json

from models import CallTranscript, Turn
from pipeline.formats import render

SAID = "我的电话是19 8,28 00,05 69，住三号楼"


def _transcript() -> CallTranscript:
    turn = Turn(role="caller", speaker="S1", channel=1, start=1.0, end=4.5, text=SAID, confidence=0.8, words=[])
    return CallTranscript(
        call_id="fmt-1", duration=5.0, sample_rate=8000, channels=2, language="zh", model="test", turns=[turn]
    )


def test_subtitles_show_numbers_as_digits():
    srt = render(_transcript(), "srt")
    vtt = render(_transcript(), "vtt")
    assert srt == "1\n00:00:01,000 --> 00:00:04,500\n市民：我的电话是19828000569，住3号楼\n"
    assert "<v 市民>我的电话是19828000569，住3号楼" in vtt


def test_json_keeps_the_words_as_recognised():
    assert json.loads(render(_transcript(), "json"))["turns"][0]["text"] == SAID
