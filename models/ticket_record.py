"""One ticket as the hotline's history keeps it: what related-ticket search and the reports read.

A record comes from one of two places: a call of ours whose ticket was made (`source="call"`, `ticket_id` is
the call id), or a ticket history imported from CSV (`source="import"`, `ticket_id` is that system's ticket
number). The caller is kept only as a keyed hash of the number (`caller_key`), never the number itself.
"""

from dataclasses import dataclass
from datetime import datetime

RECORD_SOURCES = ("call", "import")


@dataclass(frozen=True)
class TicketRecord:
    ticket_id: str  # our call_id, or the imported history's ticket number
    source: str  # "call" | "import"
    created_at: datetime  # when the matter was reported (call start; for Haikou the date in 工单编号)
    text: str  # the request (诉求内容 / the ticket's summary)
    # matter category: the taxonomy path as far as known ("城乡建设/市政设施/…" joined by "/"), or the ticket's category
    matter: str
    district: str  # normalised district ("龙华区"), "" if unknown
    place: str  # normalised road/place ("龙昆南路", "金盘花园"), "" if unknown
    department: str  # the unit it went to, "" if none
    # keyed hash of the caller's number (HMAC-SHA256 with the deployment secret), "" if none — never the number
    caller_key: str
