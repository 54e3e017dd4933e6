"""Who is the operator (agent) and who is the caller.

Evidence, strongest first: the telephony channel map; the operator's scripted greeting
("您好，12345热线，很高兴为您服务"); an enrolled voiceprint of the agent on duty; who speaks
first (the operator answers the call).
"""

import re
from dataclasses import dataclass

import numpy as np

from models import CallMeta, Turn

# Phrases of the operator's script; a speaker who says them in the first turns is the operator.
GREETING_PATTERNS: tuple[str, ...] = (
    r"(12345|幺二三四五|一二三四五)",
    r"热线",
    r"(政务|便民)服务",
    r"(很高兴)?为您服务",
    r"有什么(可以|能)?帮",
    r"工号",
    r"请问您?(贵姓|怎么称呼)",
    r"感谢您?的来电",
)
_GREETING_RE = [re.compile(pattern) for pattern in GREETING_PATTERNS]


@dataclass(frozen=True)
class RoleOptions:
    """greeting_turns: how many of each speaker's first turns are searched for the script.
    voiceprint_similarity: minimum cosine similarity to the enrolled agent's voiceprint.
    """

    greeting_turns: int = 3
    voiceprint_similarity: float = 0.75


@dataclass(frozen=True)
class RoleAssignment:
    roles: dict[str, str]
    method: str


def assign_roles(
    turns: list[Turn],
    meta: CallMeta,
    channel_labels: dict[int, str] | None = None,
    embeddings: dict[str, np.ndarray] | None = None,
    agent_voiceprint: np.ndarray | None = None,
    options: RoleOptions | None = None,
) -> RoleAssignment:
    """Map each speaker label to "agent" or "caller"; exactly one speaker is the agent."""
    options = options or RoleOptions()
    speakers = list(dict.fromkeys(turn.speaker for turn in sorted(turns, key=lambda t: t.start)))
    if not speakers:
        return RoleAssignment({}, "none")

    if channel_labels and meta.channel_map:
        by_channel = {
            label: meta.channel_map.get(str(channel)) for channel, label in channel_labels.items() if label in speakers
        }
        if "agent" in by_channel.values():
            return RoleAssignment(
                {label: ("agent" if role == "agent" else "caller") for label, role in by_channel.items()},
                "channel_map",
            )

    scores = {speaker: _greeting_score(turns, speaker, options.greeting_turns) for speaker in speakers}
    best = max(speakers, key=lambda s: scores[s])
    if scores[best] > 0 and sum(score == scores[best] for score in scores.values()) == 1:
        return RoleAssignment(_with_agent(speakers, best), "greeting")

    if agent_voiceprint is not None and embeddings:
        similarity = {
            speaker: float(np.dot(embeddings[speaker], agent_voiceprint))
            for speaker in speakers
            if speaker in embeddings
        }
        if similarity:
            closest = max(similarity, key=similarity.get)
            if similarity[closest] >= options.voiceprint_similarity:
                return RoleAssignment(_with_agent(speakers, closest), "voiceprint")

    return RoleAssignment(_with_agent(speakers, speakers[0]), "first_speaker")


def _greeting_score(turns: list[Turn], speaker: str, first_n: int) -> int:
    own = [turn.text for turn in turns if turn.speaker == speaker][:first_n]
    text = "".join(own)
    return sum(1 for pattern in _GREETING_RE if pattern.search(text))


def _with_agent(speakers: list[str], agent: str) -> dict[str, str]:
    return {speaker: ("agent" if speaker == agent else "caller") for speaker in speakers}
