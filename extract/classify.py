"""Request type (咨询/求助/投诉/举报/建议/表扬/反映), urgency and caller emotion from cue words.

The cue lists live in extract/data/signals.yaml so a deployment can tune them without code. The
operator's own read-back ("您反映的是…", "您咨询的问题…") names the type the hotline uses and wins.
Emotion is read from the words only; tone of voice is not used.
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from extract.document import CallDocument, TurnText
from extract.resource_files import DATA_DIR, NONE_AS_EMPTY, ConfigModel, Text, Texts, load_config_file
from models import REQUEST_TYPES, Evidence, TicketField
from models.ticket import EMOTIONS, URGENCY_LEVELS

DEFAULT_SIGNALS = DATA_DIR / "signals.yaml"


@dataclass(frozen=True)
class Signals:
    """Cue words: request type → cues (strongest type first), operator phrases, urgency and emotion cues."""

    request_types: dict[str, tuple[str, ...]]
    caller_overrides: tuple[str, ...]
    operator_says: dict[str, str]
    urgency: dict[str, tuple[str, ...]]
    emotion: dict[str, tuple[str, ...]]


RequestType = Literal[REQUEST_TYPES]
# the ticket's urgency and emotion take these values only (the API refuses others in corrections)
Urgency = Literal[URGENCY_LEVELS]
Emotion = Literal[EMOTIONS]


class SignalsFile(ConfigModel):
    """signals.yaml: cue words by request type, urgency level and emotion (each a value the ticket takes), the
    types a caller's own word decides (`caller_overrides`), and the operator's phrases that name a type."""

    request_types: dict[RequestType, Texts]
    caller_overrides: Annotated[tuple[RequestType, ...], NONE_AS_EMPTY] = ()
    operator_says: dict[Text, RequestType]
    urgency: dict[Urgency, Texts]
    emotion: dict[Emotion, Texts]


@functools.lru_cache(maxsize=4)
def load_signals(path: Path = DEFAULT_SIGNALS) -> Signals:
    """Read a signals YAML file; ValueError (one line: the file, where, what) when it is malformed."""
    data = load_config_file(Path(path), SignalsFile, "'request_types', 'operator_says', 'urgency' and 'emotion'")
    return Signals(
        request_types=dict(data.request_types),
        caller_overrides=data.caller_overrides,
        operator_says=dict(data.operator_says),
        urgency=dict(data.urgency),
        emotion=dict(data.emotion),
    )


def extract_request_type(document: CallDocument, signals: Signals) -> TicketField:
    for kind in signals.caller_overrides:
        hits = _hits(document.caller_turns, signals.request_types.get(kind, ()))
        if hits:
            return TicketField(kind, 0.85, hits[:3], raw=hits[0].text, source="spoken")
    for turn in document.turns:
        if turn.is_caller:
            continue
        for phrase, kind in signals.operator_says.items():
            position = turn.text.find(phrase)
            if position != -1:
                return TicketField(kind, 0.9, [turn.evidence(position, position + len(phrase))], source="operator")
    for kind, cues in signals.request_types.items():
        hits = _hits(document.caller_turns, cues)
        if hits:
            return TicketField(kind, 0.7 if kind != "反映" else 0.6, hits[:3], raw=hits[0].text, source="spoken")
    if document.caller_turns:
        return TicketField("反映", 0.4, [], source="default")
    return TicketField()


def extract_urgency(document: CallDocument, signals: Signals) -> TicketField:
    for level, cues in signals.urgency.items():
        hits = _hits(document.caller_turns, cues)
        if hits:
            return TicketField(level, 0.7, hits[:3], raw=hits[0].text, source="spoken")
    if document.caller_turns:
        return TicketField("normal", 0.6, [], source="default")
    return TicketField()


def extract_emotion(document: CallDocument, signals: Signals) -> TicketField:
    best: tuple[str, list[Evidence]] | None = None
    for mood, cues in signals.emotion.items():
        hits = _hits(document.caller_turns, cues)
        if hits and (best is None or len(hits) > len(best[1])):
            best = (mood, hits)
    if best is not None:
        confidence = min(0.9, 0.5 + 0.15 * len(best[1]))
        return TicketField(best[0], confidence, best[1][:3], raw=best[1][0].text, source="spoken")
    if document.caller_turns:
        return TicketField("calm", 0.5, [], source="default")
    return TicketField()


def _hits(turns: tuple[TurnText, ...], cues: tuple[str, ...]) -> list[Evidence]:
    hits = []
    for turn in turns:
        for cue in cues:
            position = turn.text.find(cue)
            if position != -1:
                hits.append(turn.evidence(position, position + len(cue)))
    return hits
