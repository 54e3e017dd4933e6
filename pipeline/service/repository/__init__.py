"""All database access of the service, one short transaction per method, split by concern:

- `calls`: registration and the processing state machine (claims, leases, results, failures): read its docstring
  first, it states the exactly-once rules;
- `reviews`: operators' ticket corrections and acceptance;
- `audits`: QA audits, the per-agent summary, processing statistics;
- `search`: call search and the text it looks through;
- `outbox`: webhook deliveries, written in the transaction that finishes or fails a call (or links it);
- `related`: ticket records and their full-text index, related-ticket search, links (并单) and dismissals;
- `retention`: recordings that may be deleted;
- `live`: live calls, registered at their first frame and finished by a live worker;
- `scope`: which calls a caller may see (`CallScope`), applied by every read the API makes for one.

`CallRepository` puts the parts together as mixins over one `sessionmaker`, so its callers (jobs, the API,
keys, corrections) keep calling `repository.claim(...)`, `repository.search(...)` as before: a facade would
repeat every signature to forward it, and the parts share state (`finish` writes the outbox row in its own
transaction). Reads return `Call` rows, exported here with the queries' types: the API's routes use the
repository, never the tables.
"""

from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from pipeline.service.database import Call
from pipeline.service.repository.audits import AuditsAndStats
from pipeline.service.repository.calls import CallLifecycle, NewCall, Phase, call_meta
from pipeline.service.repository.live import EMPTY_RECORDING, LiveCalls
from pipeline.service.repository.outbox import WEBHOOK_FALLBACK_S, WebhookOutbox
from pipeline.service.repository.related import LinkView, RelatedOptions, RelatedTicket, RelatedTickets
from pipeline.service.repository.retention import Retention
from pipeline.service.repository.reviews import Reviews
from pipeline.service.repository.scope import CallScope
from pipeline.service.repository.search import CallQuery, Search, search_text


class CallRepository(
    CallLifecycle, LiveCalls, Reviews, AuditsAndStats, Search, WebhookOutbox, Retention, RelatedTickets
):
    """All database access of the service, one short transaction per method."""

    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def ping(self) -> None:
        """Raises when the database does not answer (the API's readiness check)."""
        with self.sessions() as session:
            session.execute(text("SELECT 1"))


__all__ = [
    "EMPTY_RECORDING",
    "WEBHOOK_FALLBACK_S",
    "Call",
    "CallQuery",
    "CallRepository",
    "CallScope",
    "LinkView",
    "NewCall",
    "Phase",
    "RelatedOptions",
    "RelatedTicket",
    "call_meta",
    "search_text",
]
