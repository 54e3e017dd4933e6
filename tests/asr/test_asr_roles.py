"""Operator vs caller from the channel map, the scripted greeting, a voiceprint, or who speaks first."""

import numpy as np
import pytest

from asr.roles import RoleOptions, assign_roles
from models import CallMeta, Turn

META = CallMeta(call_id="test-call")
A, B, C = "SPEAKER_00", "SPEAKER_01", "SPEAKER_02"


def turn(speaker: str, start: float, text: str, channel: int | None = None) -> Turn:
    return Turn("", speaker, channel, start, start + 2.0, text, 0.9, [])


def unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


PLAIN = [
    turn(A, 0.0, "喂，你好。"),
    turn(B, 2.5, "你好，请讲。"),
    turn(A, 5.0, "我家楼下工地太吵了。"),
    turn(B, 8.0, "好的，我记录一下。"),
]


def test_channel_map_wins_over_the_greeting():
    turns = [
        turn(A, 0.0, "您好，幺二三四五热线，很高兴为您服务", channel=0),
        turn(B, 3.0, "你好，我要反映噪音。", channel=1),
    ]
    meta = CallMeta(call_id="x", channel_map={"0": "caller", "1": "agent"})
    result = assign_roles(turns, meta, channel_labels={0: A, 1: B})
    assert result.method == "channel_map"
    assert result.roles == {A: "caller", B: "agent"}


def test_channel_map_without_an_agent_falls_through():
    turns = [turn(A, 0.0, "喂？", channel=0), turn(B, 1.0, "您好，12345热线", channel=1)]
    meta = CallMeta(call_id="x", channel_map={"0": "caller", "1": "caller"})
    result = assign_roles(turns, meta, channel_labels={0: A, 1: B})
    assert result.method == "greeting"
    assert result.roles == {A: "caller", B: "agent"}


def test_channel_labels_without_a_map_fall_through():
    result = assign_roles(PLAIN, META, channel_labels={0: A, 1: B})
    assert result.method == "first_speaker"


@pytest.mark.parametrize(
    "greeting",
    [
        "您好，幺二三四五热线，很高兴为您服务",
        "您好，要二三四五政务服务便民热线",  # 幺 heard as 要: the rest of the script still gives it away
        "您好，12345，工号3021，请问有什么可以帮您？",
    ],
)
def test_greeting_finds_the_agent_who_speaks_second(greeting):
    turns = [
        turn(A, 0.0, "喂？喂？"),
        turn(B, 1.0, greeting),
        turn(A, 4.0, "我要投诉我们小区的噪音。"),
    ]
    result = assign_roles(turns, META)
    assert result.method == "greeting"
    assert result.roles == {A: "caller", B: "agent"}


def test_greeting_only_counts_a_speakers_first_turns():
    late = [turn(A, 0.0, "喂？"), turn(B, 1.0, "你好。")]
    late += [turn(A, 2.0 + i, "嗯。") for i in range(3)]
    late.append(turn(A, 9.0, "我刚打的12345热线"))
    result = assign_roles(late, META, options=RoleOptions(greeting_turns=3))
    assert result.method == "first_speaker"
    assert result.roles == {A: "agent", B: "caller"}


def test_equal_greeting_scores_do_not_decide():
    turns = [turn(A, 0.0, "这是热线吗？"), turn(B, 1.0, "对，这是热线。")]
    assert assign_roles(turns, META).method == "first_speaker"


def test_voiceprint_finds_the_agent():
    rng = np.random.default_rng(0)
    agent_voice, caller_voice = unit(rng.standard_normal(256)), unit(rng.standard_normal(256))
    enrolled = unit(agent_voice + 0.2 * unit(rng.standard_normal(256)))
    embeddings = {A: caller_voice, B: agent_voice}

    result = assign_roles(PLAIN, META, embeddings=embeddings, agent_voiceprint=enrolled)

    assert result.method == "voiceprint"
    assert result.roles == {A: "caller", B: "agent"}


def test_voiceprint_below_threshold_falls_through():
    rng = np.random.default_rng(1)
    embeddings = {A: unit(rng.standard_normal(256)), B: unit(rng.standard_normal(256))}
    stranger = unit(rng.standard_normal(256))
    result = assign_roles(PLAIN, META, embeddings=embeddings, agent_voiceprint=stranger)
    assert result.method == "first_speaker"
    assert result.roles == {A: "agent", B: "caller"}


def test_voiceprint_threshold_is_an_option():
    vectors = np.eye(3)
    embeddings = {A: vectors[0], B: unit(vectors[1] + vectors[2])}
    enrolled = vectors[1]  # cosine 0.707 with B
    assert assign_roles(PLAIN, META, embeddings=embeddings, agent_voiceprint=enrolled).method == "first_speaker"
    result = assign_roles(
        PLAIN, META, embeddings=embeddings, agent_voiceprint=enrolled, options=RoleOptions(voiceprint_similarity=0.7)
    )
    assert result.method == "voiceprint"
    assert result.roles[B] == "agent"


def test_greeting_beats_voiceprint():
    turns = [turn(A, 0.0, "喂？"), turn(B, 1.0, "您好，12345热线，很高兴为您服务")]
    embeddings = {A: np.array([1.0, 0.0]), B: np.array([0.0, 1.0])}
    result = assign_roles(turns, META, embeddings=embeddings, agent_voiceprint=np.array([1.0, 0.0]))
    assert result.method == "greeting"
    assert result.roles[B] == "agent"


def test_first_speaker_is_the_agent_by_time_not_list_order():
    shuffled = [PLAIN[1], PLAIN[3], PLAIN[0], PLAIN[2]]
    result = assign_roles(shuffled, META)
    assert result.method == "first_speaker"
    assert result.roles == {A: "agent", B: "caller"}


def test_three_speakers_one_agent():
    turns = [*PLAIN, turn(C, 11.0, "我是他邻居，也被吵到了。")]
    turns.insert(1, turn(B, 0.5, "您好，12345热线，请问有什么可以帮您？"))
    result = assign_roles(turns, META)
    assert result.roles == {A: "caller", B: "agent", C: "caller"}
    assert list(result.roles.values()).count("agent") == 1


@pytest.mark.parametrize(
    "turns",
    [
        PLAIN,
        [turn(A, 0.0, "您好，12345热线")],
        [turn(speaker, i, "嗯") for i, speaker in enumerate([C, B, A, B, C])],
    ],
)
def test_exactly_one_agent(turns):
    roles = assign_roles(turns, META).roles
    assert set(roles) == {t.speaker for t in turns}
    assert list(roles.values()).count("agent") == 1
    assert set(roles.values()) <= {"agent", "caller"}


def test_no_turns():
    result = assign_roles([], META)
    assert result.roles == {}
    assert result.method == "none"
