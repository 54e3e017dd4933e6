"""Finished calls with tickets in the service's database, for the report tests (no pipeline run: the ticket is
written as extraction would have made it)."""

from datetime import datetime

from models import DepartmentSuggestion, Ticket, TicketField
from pipeline.service.recordings import StoredRecording
from pipeline.service.repository import CallRepository, NewCall, Phase


def finish_call(
    repository: CallRepository,
    call_id: str,
    started_at: datetime | None,
    summary: str,
    category: str,
    matter: str | None,
    address: str,
    department: str,
    district: str | None = None,
) -> None:
    new = NewCall(call_id, "13800007731", "A1024", started_at, {}, "backlog", "audio/wav")
    repository.register(new, StoredRecording("0" * 64, 4), pushed_by=None)
    assert repository.claim(call_id, Phase.TRANSCRIBE, 60)
    assert repository.save_transcript(call_id, {"turns": []}, {}, 1.0)
    assert repository.claim(call_id, Phase.EXTRACT, 60)
    fields = {
        "summary": TicketField(summary, 0.9),
        "category": TicketField(category, 0.8, raw=matter, source="catalogue"),
        "address": TicketField(address, 0.8),
        "district": TicketField(district, 0.8),
    }
    repository.finish(call_id, Ticket(fields, [DepartmentSuggestion(department, 0.9)]), {})
