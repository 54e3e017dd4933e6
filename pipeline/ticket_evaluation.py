"""Ticket extraction measured against the gold fields of annotated calls.

Each gold call is extracted twice when an ASR transcript is given: from the gold turns (what was really
said: the extractor's own accuracy) and from our ASR output (the gap is the ASR's cost). Per field:
accuracy, and how well the confidence predicts correctness (reliability by confidence band). The street
(街道/镇) has no gold field: it is read from the gold address when that names one, and only those calls
are scored on it. Departments: top-1/top-3 against the gold unit, and the share of calls given any suggestion.
"""

import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models import REVIEW_LEVELS, CallMeta, CallTranscript, Ticket, Turn
from pipeline.meta import parse_meta

SCORED_FIELDS = ("caller_name", "caller_surname", "honorific", "phone", "address", "district", "request_type")
CONFIDENCE_BANDS = ((0.0, 0.5), (0.5, 0.8), (0.8, 1.01))
# a street (街道) or town (镇) right after the address's optional province, city and district
_GOLD_STREET = re.compile(
    r"^(?:[\u4e00-\u9fff]{2,3}省)?(?:[\u4e00-\u9fff]{2,3}市)?(?:[\u4e00-\u9fff]{1,3}[区县])?([\u4e00-\u9fff]{2,3}?(?:街道|镇))"
)


@dataclass(frozen=True)
class GoldTicket:
    call_id: str
    turns_transcript: CallTranscript
    meta: CallMeta
    fields: dict[str, Any]
    department: str | None


@dataclass
class CallTicketScore:
    call_id: str
    source: str
    correct: dict[str, bool]
    confidence: dict[str, float]
    address_f1: float
    department_rank: int | None
    review: str
    predicted: dict[str, Any] = field(default_factory=dict)
    street_correct: bool | None = None
    """None when the gold address names no street or town (the call is not scored on it)."""
    departments: int = 0
    """How many department suggestions the ticket has."""


@dataclass
class TicketReport:
    calls: list[CallTicketScore]
    summary: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_gold_tickets(folder: Path) -> list[GoldTicket]:
    """Gold calls (<call_id>.json with turns, fields and metadata) in a folder, sorted by call id."""
    golds = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "fields" not in data or "turns" not in data:
            continue
        turns = [
            Turn(t["speaker"], t["speaker"], None, float(t["start"]), float(t["end"]), t["text"], 1.0, [])
            for t in data["turns"]
        ]
        call_id = data.get("call_id", path.stem)
        transcript = CallTranscript(call_id, float(data.get("duration_s", 0.0)), 0, 0, "zh", "gold", turns)
        fields = dict(data["fields"])
        fields["honorific"] = (data.get("fields_extra") or {}).get("caller_honorific")
        golds.append(
            GoldTicket(
                call_id=call_id,
                turns_transcript=transcript,
                meta=parse_meta(data.get("metadata") or {}, call_id),
                fields=fields,
                department=fields.get("department"),
            )
        )
    return golds


def score_ticket(
    ticket: Ticket, gold: GoldTicket, source: str, canonical: Callable[[str], str] = lambda name: name
) -> CallTicketScore:
    expected = {
        "caller_name": gold.fields.get("caller_name"),
        "caller_surname": gold.fields.get("caller_surname"),
        "honorific": gold.fields.get("honorific"),
        "phone": gold.fields.get("phone"),
        "address": _plain_address(gold.fields.get("address_text")),
        "district": gold.fields.get("district"),
        "request_type": gold.fields.get("request_type"),
    }
    predicted = {name: ticket.fields[name].value for name in SCORED_FIELDS}
    predicted["address"] = _plain_address(predicted["address"])
    correct = {name: predicted[name] == expected[name] for name in SCORED_FIELDS}
    confidence = {name: ticket.fields[name].confidence for name in SCORED_FIELDS}
    rank = None
    if gold.department:
        names = [canonical(suggestion.department) for suggestion in ticket.department_suggestions]
        target = canonical(gold.department)
        rank = names.index(target) + 1 if target in names else 0
    gold_street = gold_street_of(gold.fields.get("address_text"))
    street = ticket.fields["street"].value
    return CallTicketScore(
        call_id=gold.call_id,
        source=source,
        correct=correct,
        confidence=confidence,
        address_f1=_char_f1(predicted["address"] or "", expected["address"] or ""),
        department_rank=rank,
        review=ticket.review,
        predicted={
            **predicted,
            "street": street,
            "department": [s.department for s in ticket.department_suggestions[:3]],
        },
        street_correct=None if gold_street is None else _street_stem(street) == _street_stem(gold_street),
        departments=len(ticket.department_suggestions),
    )


def gold_street_of(address_text: str | None) -> str | None:
    """The street (街道) or town (镇) a gold address names after its district, or None
    ("琼山区滨江街道社区服务中心" → 滨江街道)."""
    match = _GOLD_STREET.match(address_text or "")
    return match.group(1) if match else None


def _street_stem(name: str | None) -> str | None:
    """滨江街道, 滨江街道办事处 and 滨江 name one street; 府城镇 is now 府城街道."""
    if not name:
        return None
    return re.sub(r"(?:街道办事处|街道办|街道|镇人民政府|镇政府|镇)$", "", name) or name


def evaluate_tickets(
    golds: Iterable[GoldTicket],
    extract: Callable[[CallTranscript, CallMeta], Ticket],
    asr_transcripts: dict[str, CallTranscript] | None = None,
    canonical: Callable[[str], str] = lambda name: name,
) -> TicketReport:
    scores = []
    for gold in golds:
        scores.append(score_ticket(extract(gold.turns_transcript, gold.meta), gold, "gold_text", canonical))
        if asr_transcripts and gold.call_id in asr_transcripts:
            meta = dataclasses.replace(gold.meta, call_id=gold.call_id)
            scores.append(score_ticket(extract(asr_transcripts[gold.call_id], meta), gold, "asr", canonical))
    return TicketReport(calls=scores, summary=summarize_tickets(scores))


def summarize_tickets(scores: list[CallTicketScore]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for source in sorted({score.source for score in scores}):
        rows = [score for score in scores if score.source == source]
        entry: dict[str, Any] = {"calls": len(rows)}
        for name in SCORED_FIELDS:
            entry[name] = round(sum(row.correct[name] for row in rows) / len(rows), 3)
        entry["address_f1"] = round(sum(row.address_f1 for row in rows) / len(rows), 3)
        streets = [row.street_correct for row in rows if row.street_correct is not None]
        entry["street_calls"] = len(streets)
        if streets:
            entry["street"] = round(sum(streets) / len(streets), 3)
        ranked = [row.department_rank for row in rows if row.department_rank is not None]
        if ranked:
            entry["department_top1"] = round(sum(rank == 1 for rank in ranked) / len(ranked), 3)
            entry["department_top3"] = round(sum(1 <= rank <= 3 for rank in ranked) / len(ranked), 3)
        entry["department_any"] = round(sum(row.departments > 0 for row in rows) / len(rows), 3)
        entry["review"] = {level: sum(row.review == level for row in rows) for level in REVIEW_LEVELS}
        entry["reliability"] = _reliability(rows)
        summary[source] = entry
    return summary


def _reliability(rows: list[CallTicketScore]) -> list[dict[str, Any]]:
    """Accuracy of the values given (not the fields left empty), by confidence band."""
    bands = []
    for low, high in CONFIDENCE_BANDS:
        hits = [
            row.correct[name]
            for row in rows
            for name in SCORED_FIELDS
            if row.predicted.get(name) is not None and low <= row.confidence[name] < high
        ]
        bands.append(
            {
                "band": f"{low:.1f}-{min(high, 1.0):.1f}",
                "values": len(hits),
                "accuracy": round(sum(hits) / len(hits), 3) if hits else None,
            }
        )
    return bands


def _plain_address(text: str | None) -> str | None:
    """Compare addresses without province/city prefixes and punctuation (the deployment city is implied)."""
    if not text:
        return None
    text = re.sub(r"[，。、,.\s]", "", text)
    return re.sub(r"^(?:[\u4e00-\u9fff]{2,3}省)?(?:[\u4e00-\u9fff]{2,3}市)?", "", text) or None


def _char_f1(predicted: str, expected: str) -> float:
    if not predicted and not expected:
        return 1.0
    if not predicted or not expected:
        return 0.0
    remaining = list(expected)
    common = 0
    for char in predicted:
        if char in remaining:
            remaining.remove(char)
            common += 1
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return round(2 * precision * recall / (precision + recall), 3)
