"""extract_ticket(): a speaker-attributed transcript (+ call metadata) in, a pre-filled work order out.

normalise turns → name, phone, ID, address, event time, request type, urgency, emotion, summary
→ department suggestions (duty catalogue + trained routing model) → form template → KB answers → review level.
Bad input (no turns, no caller, garbage, huge text) gives an empty-but-valid ticket with warnings.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from extract.address import DeploymentPlace, extract_address
from extract.catalogue import Catalogue, CatalogueMatch, OutOfScopeMatch, load_catalogue
from extract.classify import (
    DEFAULT_SIGNALS,
    Signals,
    extract_emotion,
    extract_request_type,
    extract_urgency,
    load_signals,
)
from extract.document import MAX_TURN_CHARS, CallDocument, build_document
from extract.forms import FormTemplate, load_forms, suggest_form
from extract.kb import KnowledgeBase
from extract.lexicon import Lexicon, load_lexicon
from extract.masking import mask_number
from extract.person import extract_person
from extract.phone import competing_phone, extract_id_number, extract_phone, is_valid_phone
from extract.review import ReviewOptions, decide_review
from extract.routing import RoutingModel
from extract.routing.zones import ZoneTable, zone_reason
from extract.summary import caller_request, confirmed_readback, extract_summary
from extract.timex import extract_event_time
from models import CallMeta, CallTranscript, DepartmentSuggestion, Ticket, TicketField, TicketFlag

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractOptions:
    place: DeploymentPlace = field(default_factory=DeploymentPlace)
    """The hotline's province and city, assumed for addresses that name none."""
    departments: int = 5
    """How many department suggestions to show."""
    catalogue_weight: float = 0.2
    """Weight of the duty catalogue's keyword match against the trained model's probability (1 - weight).
    0.1-0.3 are within 0.3 points of each other on a validation split of the Haikou tickets and 1 point of
    top-1 above the model alone (bench/catalogue_blend.py). Without a routing model the catalogue ranks."""
    kb_answers: int = 3
    kb_request_types: tuple[str, ...] = ("咨询",)
    """Request types for which knowledge-base answers are looked up (the operator may answer directly)."""
    review: ReviewOptions = field(default_factory=ReviewOptions)


@dataclass
class ExtractResources:
    """What extraction reads besides the call: loaded once per process (see `load_resources`)."""

    catalogue: Catalogue
    signals: Signals
    forms: list[FormTemplate]
    knowledge_base: KnowledgeBase | None = None
    routing_model: RoutingModel | None = None
    lexicon: Lexicon | None = None
    zones: ZoneTable | None = None
    """The catalogue's key areas, for the reason "地址在…范围内" (a routing model trained with zones has its own)."""


def load_resources(
    catalogue: Path | None = None,
    signals: Path | None = None,
    forms: Path | None = None,
    knowledge_base: Path | None = None,
    routing_model: Path | None = None,
    use_knowledge_base: bool = True,
    lexicon: Path | None = None,
) -> ExtractResources:
    """Bundled defaults unless paths are given; the routing model is optional (trained per deployment)."""
    duty_catalogue = load_catalogue(catalogue)
    return ExtractResources(
        lexicon=load_lexicon(lexicon),
        catalogue=duty_catalogue,
        zones=ZoneTable.from_catalogue(duty_catalogue),
        signals=load_signals(signals or DEFAULT_SIGNALS),
        forms=load_forms(forms),
        knowledge_base=KnowledgeBase.load(knowledge_base) if use_knowledge_base else None,
        routing_model=RoutingModel.load(routing_model) if routing_model else None,
    )


def extract_ticket(
    transcript: CallTranscript,
    meta: CallMeta,
    resources: ExtractResources,
    options: ExtractOptions | None = None,
) -> Ticket:
    """Pre-fill the work order for one call. Never raises on odd transcripts: warnings say what was wrong."""
    options = options or ExtractOptions()
    ticket = Ticket.empty()
    ticket.warnings.extend(_input_warnings(transcript))
    document = build_document(transcript)
    if not document.caller_turns:
        decide_review(ticket, None, options.review)
        return ticket

    fields = ticket.fields
    surname_prior = (
        {entry.term: entry.weight for entry in resources.lexicon.of_kind("surname")} if resources.lexicon else {}
    )
    person = extract_person(document, surname_prior)
    fields["caller_name"], fields["caller_surname"], fields["honorific"] = (
        person.caller_name,
        person.caller_surname,
        person.honorific,
    )
    fields["phone"] = extract_phone(document, meta.caller_number)
    fields["id_number"] = extract_id_number(document)
    address = extract_address(document, options.place)
    for name in ("address", "province", "city", "district", "street", "address_detail"):
        fields[name] = getattr(address, name)
    fields["event_time"] = extract_event_time(document, meta.started_at)
    fields["request_type"] = extract_request_type(document, resources.signals)
    fields["urgency"] = extract_urgency(document, resources.signals)
    fields["emotion"] = extract_emotion(document, resources.signals)
    fields["summary"] = extract_summary(document, fields["request_type"].value)
    ticket.warnings.extend(_phone_warnings(fields["phone"], document))

    request_text = _request_text(ticket, document)
    ticket.department_suggestions, category = _suggest_departments(
        request_text, fields["address"].value, resources, options
    )
    fields["category"] = category
    out_of_scope = resources.catalogue.match_out_of_scope(request_text)
    for hit in out_of_scope:
        # the message is the catalogue's own words for the caller (Chinese): what the operator tells them
        ticket.warnings.append(TicketFlag("out_of_scope", value=hit.name, message=f"{hit.name}: {hit.advice}"))
    if not ticket.department_suggestions:
        ticket.warnings.append(_no_department(request_text, out_of_scope))
    ticket.form = suggest_form(fields["request_type"].value, fields, resources.forms)
    if resources.knowledge_base is not None and fields["request_type"].value in options.kb_request_types:
        # the caller's own words: the KB's questions are written the way callers ask
        question = "，".join(text for text, _ in caller_request(document)) or request_text
        ticket.kb_answers = resources.knowledge_base.search(question, k=options.kb_answers)
    _discount_open_vocabulary(ticket, document)
    decide_review(ticket, _caller_confidence(document), options.review)
    return ticket


OPEN_VOCABULARY_FIELDS = ("caller_name", "address", "street", "address_detail", "summary")
"""Fields the ASR must get right word for word, with nothing to check them against (place and person
names are rare words to Whisper). Their confidence is scaled by the square of the recognition confidence of
the turns they come from: on the shared calls an address heard at 0.75 was almost never exactly right,
while phone numbers (validated, read back), districts (a closed list) and request types (cue words) held up."""


def _discount_open_vocabulary(ticket: Ticket, document: CallDocument) -> None:
    for name in OPEN_VOCABULARY_FIELDS:
        field_ = ticket.fields[name]
        turns = {evidence.turn for evidence in field_.evidence}
        if field_.value is None or not turns:
            continue
        recognised = sum(document.turns[index].confidence for index in turns) / len(turns)
        field_.confidence = round(field_.confidence * min(1.0, recognised) ** 2, 3)


class TicketExtractor:
    """The pipeline's extractor: resources loaded once, then `extract(transcript, meta)` per call."""

    def __init__(self, resources: ExtractResources, options: ExtractOptions | None = None):
        self.resources = resources
        self.options = options or ExtractOptions()

    def extract(self, transcript: CallTranscript, meta: CallMeta) -> Ticket:
        return extract_ticket(transcript, meta, self.resources, self.options)


def _request_text(ticket: Ticket, document: CallDocument) -> str:
    """What routing reads: the summary's content (the caller's request in written form), plus the
    operator's confirmed read-back, which restates the matter in the hotline's words."""
    content = (ticket.fields["summary"].value or "").split("：", 1)[-1]
    readback = confirmed_readback(document)
    if readback is not None and readback[0] not in content:
        content = f"{content}{readback[0]}"
    return content


def _suggest_departments(
    text: str, address: str | None, resources: ExtractResources, options: ExtractOptions
) -> tuple[list[DepartmentSuggestion], TicketField]:
    catalogue = resources.catalogue
    scores: dict[str, float] = {}
    reasons: dict[str, list[str]] = {}
    category = TicketField()
    matches = catalogue.match(text, k=options.departments) if text else []
    model_weight = 1.0 - options.catalogue_weight if resources.routing_model is not None else 0.0
    catalogue_weight = 1.0 - model_weight
    for match in matches:
        name = catalogue.canonical(match.department)
        scores[name] = scores.get(name, 0.0) + catalogue_weight * match.score
        reasons.setdefault(name, []).append(_catalogue_reason(match))
    if matches:
        best = matches[0]
        category = TicketField(best.category, round(min(0.9, best.score), 3), [], raw=best.matter, source="catalogue")
    dispatchable = None
    zone_hits = []
    addresses = [address or ""]
    if resources.zones is not None:
        zone_hits = resources.zones.find(f"{address or ''}\n{text}")
    if resources.routing_model is not None and text:
        model = resources.routing_model
        probabilities, confidence = model.predict_with_confidence([text], addresses)
        if model.zones is not None:
            # the zones the model scored with (its history's places included) are the reason for its ranking
            zone_hits = model.zone_hits([text], addresses)[0]
        for label, probability in model.predict([text], k=options.departments, addresses=addresses)[0]:
            name = catalogue.canonical(label)
            scores[name] = scores.get(name, 0.0) + model_weight * probability
            reasons.setdefault(name, []).append(f"历史工单模型：{probability:.0%}")
        dispatchable = _auto_dispatch_unit(model, probabilities, float(confidence[0]), catalogue, reasons)
        for name, reason in _similar_tickets(model, text, catalogue).items():
            if name in reasons:
                reasons[name].append(reason)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)[: options.departments]
    for hit in zone_hits:
        name = catalogue.canonical(hit.unit)
        reasons.setdefault(name, []).append(zone_reason(hit))
        # the zone's unit is shown with its reason even where nothing else suggested it, if the list has room
        if name not in dict(ranked) and len(ranked) < options.departments:
            ranked.append((name, scores.get(name, 0.0)))
    suggestions = [
        # only a first suggestion that is the model's own first choice: the threshold was measured for that
        DepartmentSuggestion(name, round(score, 3), reasons[name], auto_dispatch=rank == 0 and name == dispatchable)
        for rank, (name, score) in enumerate(ranked)
    ]
    return suggestions, category


def _auto_dispatch_unit(
    model: RoutingModel, probabilities, confidence: float, catalogue: Catalogue, reasons: dict[str, list[str]]
) -> str | None:
    """The model's first choice when its calibrated confidence reaches the model's dispatch threshold, else None;
    the confidence and the threshold go into that unit's reasons either way, so the operator sees how near it was."""
    threshold = model.dispatch_threshold
    if threshold is None:
        return None
    name = catalogue.canonical(model.labels[int(probabilities[0].argmax())])
    reasons.setdefault(name, []).append(f"自动派单把握：{confidence:.1%}（需 {threshold:.1%}）")
    return name if confidence >= threshold else None


def _catalogue_reason(match: CatalogueMatch) -> str:
    """职责清单：价格违法（关键词：标价；关键词（按读音）：明码标价 ← 名马标价）: what was read, and what was heard."""
    by_sound = {hit.keyword for hit in match.heard}
    parts = []
    written = [keyword for keyword in match.keywords if keyword not in by_sound]
    if written:
        parts.append(f"关键词：{'、'.join(written)}")
    if match.heard:
        heard = dict.fromkeys(f"{hit.keyword} ← {hit.heard}" for hit in match.heard)
        parts.append(f"关键词（按读音）：{'、'.join(heard)}")
    return f"职责清单：{match.matter}（{'；'.join(parts)}）"


def _phone_warnings(phone: TicketField, document: CallDocument) -> list[TicketFlag]:
    """What the operator should know about the callback number: not dialable, the calling number put in its
    place, or another number read back in the call (masked)."""
    if phone.source in ("spoken", "ani_fallback") and not is_valid_phone(phone.value):
        return [TicketFlag("phone_invalid", "phone", message="the spoken phone number is not a valid number")]
    competing = competing_phone(document, phone)
    if competing is not None:
        return [
            TicketFlag(
                "phone_conflict",
                "phone",
                value=mask_number(competing[0]),
                message="another number was read back in the call",
            )
        ]
    if phone.source == "ani_fallback":
        return [TicketFlag("phone_misheard", "phone", message="the spoken number was not understood; ANI shown")]
    if phone.source == "ani_matched":
        return [
            TicketFlag(
                "phone_matched_ani", "phone", message="the spoken number is one or two digits from the ANI; ANI shown"
            )
        ]
    return []


def _no_department(request_text: str, out_of_scope: list[OutOfScopeMatch]) -> TicketFlag:
    """Why the catalogue (and the model) placed the call nowhere: the operator routes it."""
    if not request_text:
        reason = "request empty: no request found in what the caller said"
    elif out_of_scope:
        reason = f"out of scope: {out_of_scope[0].name}"
    else:
        reason = "no matter words recognised in the request"
    return TicketFlag("no_department", "department", message=reason)


def _similar_tickets(model: RoutingModel, text: str, catalogue: Catalogue) -> dict[str, str]:
    """For each unit, the most similar past ticket it handled: "how was this routed before"."""
    try:
        similar = model.similar([text], n=10)[0]
    except ValueError:  # a model saved without its training tickets
        return {}
    found: dict[str, str] = {}
    for ticket in similar:
        name = catalogue.canonical(ticket.label)
        if name not in found:
            found[name] = f"相似历史工单（相似度{ticket.similarity:.2f}）：{ticket.text}…"
    return found


def _caller_confidence(document: CallDocument) -> float | None:
    turns = document.caller_turns
    if not turns:
        return None
    total = sum(len(turn.text) for turn in turns) or 1
    return sum(turn.confidence * len(turn.text) for turn in turns) / total


def _input_warnings(transcript: CallTranscript) -> list[TicketFlag]:
    warnings = []
    if not transcript.turns:
        warnings.append(TicketFlag("empty_transcript", message="the transcript has no turns"))
    elif not any(turn.role == "caller" for turn in transcript.turns):
        warnings.append(TicketFlag("no_caller", message="no caller turns: nothing to extract"))
    if any(len(turn.text or "") > MAX_TURN_CHARS for turn in transcript.turns):
        warnings.append(
            TicketFlag(
                "turn_truncated",
                threshold=float(MAX_TURN_CHARS),
                message=f"turns longer than {MAX_TURN_CHARS} characters were cut",
            )
        )
    text = "".join(turn.text or "" for turn in transcript.turns)
    if text and sum("\u4e00" <= char <= "\u9fff" for char in text) < 0.3 * len(text):
        warnings.append(TicketFlag("not_chinese", message="most of the transcript is not Chinese text"))
    return warnings
