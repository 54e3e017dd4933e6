"""Related tickets: the ticket records, their full-text index, the search for earlier tickets a call repeats, and
the operators' links (并单) and dismissals.

Search (`related_to`): three ways an earlier ticket is related, each within its own window before the call:
the same caller (`caller_key`, btree), the same road or place (`place` and district, btree), the same matter
(text). The text candidates come from the database's full-text index over the tickets' character bigrams
(SQLite FTS5, PostgreSQL GIN; `database.FULL_TEXT_OBJECTS`), asked for the query's rarest terms within the
window; every candidate is then scored here with one function (`extract.related.similarity`, weights from the
`ticket_terms` counts), so both databases rank alike. Each result says why in the operator's words:
"同一来电号码", "3天前", "同一地点（龙昆南路）", "同一事项（相似度0.83）".

Linking (`decide`): a linked call is one matter with the earlier ticket and shares its dispatch: the call takes
the earlier ticket's unit (处置单位) while the call's ticket is not yet accepted, so the two go to one unit once.
Each decision is a `TicketLink` row and a `TicketChange` of the call (who, when); a link or unlink also queues a
`ticket.linked` / `ticket.unlinked` webhook in the same transaction.
"""

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, delete, select, text, true, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

from extract.related import TermWeights, index_terms
from models import CallConflictError, CallNotFoundError
from models.ticket_record import TicketRecord
from pipeline.service.database import Call, TicketChange, TicketLink, TicketRecordRow, TicketTerm, utcnow
from pipeline.service.repository.scope import CallScope

TOTAL = ""
"""The `ticket_terms` row that counts the indexed tickets themselves."""

LINK_ACTIONS = ("link", "dismiss")

_RECORD_ARRAYS = {
    "ticket_id": "varchar",
    "source": "varchar",
    "created_at": "timestamptz",
    "text": "text",
    "matter": "varchar",
    "district": "varchar",
    "place": "varchar",
    "department": "varchar",
    "caller_key": "varchar",
    "index_terms": "text",
}
"""The columns of a ticket record as PostgreSQL receives a batch of them: one array each (`_store_records`)."""


@dataclass(frozen=True)
class RelatedOptions:
    """How far back each kind of match looks and when two texts are one matter (`RelatedSettings` documents the
    deployment's values). `query_terms`: how many of the query's rarest terms are sent to the full-text index;
    `candidates`: how many of its best matches are scored."""

    caller_window_days: float = 30.0
    place_window_days: float = 7.0
    matter_window_days: float = 7.0
    same_matter_threshold: float = 0.4
    max_results: int = 10
    query_terms: int = 24
    candidates: int = 100


@dataclass(frozen=True)
class RelatedTicket:
    """An earlier ticket related to a call, why, and what an operator decided about it (link, dismiss or None)."""

    record: TicketRecord
    similarity: float
    same_caller: bool
    same_place: bool
    same_matter: bool
    days_before: int
    reasons: list[str] = field(default_factory=list)
    decision: str | None = None

    @property
    def score(self) -> float:
        """Caller first (the same person about the same thing is the surest repeat), then matter, then place."""
        return 1.0 * self.same_caller + self.similarity + 0.4 * self.same_place


@dataclass(frozen=True)
class LinkView:
    """A decision about a pair: `direction` "to" when this call was linked to (or dismissed) the earlier ticket,
    "from" when a later call was linked to this call."""

    call_id: str
    record: TicketRecord
    action: str
    actor: str
    at: datetime
    direction: str


def _record(row: TicketRecordRow) -> TicketRecord:
    return TicketRecord(
        ticket_id=row.ticket_id,
        source=row.source,
        created_at=row.created_at,
        text=row.text,
        matter=row.matter,
        district=row.district,
        place=row.place,
        department=row.department,
        caller_key=row.caller_key,
    )


def _julian_day(moment: datetime) -> int:
    """SQLite's CAST(julianday(t) AS INTEGER) for an aware time: the day part of the FTS5 row id."""
    return math.floor(moment.astimezone(UTC).timestamp() / 86400 + 2440587.5)


class RelatedTickets:
    """Ticket records, their index, related-ticket search and links (`CallRepository`'s part for issue 17)."""

    sessions: sessionmaker

    # -- writing records ------------------------------------------------------------------------------------------

    def add_records(self, records: Iterable[TicketRecord], batch: int = 2000) -> tuple[int, int]:
        """Store records not stored yet (by source and ticket id), `batch` per transaction; (added, already there).
        Importing the same history twice adds nothing."""
        added = seen = 0
        chunk: list[TicketRecord] = []
        for record in records:
            chunk.append(record)
            if len(chunk) >= batch:
                new = self._add_chunk(chunk)
                added, seen, chunk = added + new, seen + len(chunk) - new, []
        if chunk:
            new = self._add_chunk(chunk)
            added, seen = added + new, seen + len(chunk) - new
        return added, seen

    def _add_chunk(self, records: list[TicketRecord]) -> int:
        with self.sessions.begin() as session:
            return self._store_records(session, records)

    def _store_records(self, session: Session, records: list[TicketRecord]) -> int:
        """Insert the records (those already there are skipped) and count their terms, in `session`'s transaction."""
        unique = {(record.source, record.ticket_id): record for record in records}
        values = [
            {
                "ticket_id": record.ticket_id,
                "source": record.source,
                "created_at": record.created_at,
                "text": record.text,
                "matter": record.matter[:256],
                "district": record.district[:32],
                "place": record.place[:128],
                "department": record.department[:128],
                "caller_key": record.caller_key,
                "index_terms": " ".join(index_terms(record.text)),
            }
            for record in unique.values()
        ]
        if not values:
            return 0
        if session.bind.dialect.name == "postgresql":
            # one statement over one array a column: a multi-row VALUES of 1,000 rows has 10,000 placeholders,
            # which psycopg rewrites in Python each time (a third of an import's time, bench/related.py)
            columns = ", ".join(_RECORD_ARRAYS)
            arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _RECORD_ARRAYS.items())
            statement = text(
                f"INSERT INTO ticket_records ({columns}) SELECT * FROM unnest({arrays}) "
                "ON CONFLICT (source, ticket_id) DO NOTHING RETURNING index_terms"
            )
            inserted = session.scalars(
                statement, {name: [row[name] for row in values] for name in _RECORD_ARRAYS}
            ).all()
        else:
            # the table, not the ORM class: a plain multi-row INSERT, without the ORM's bulk bookkeeping per row
            records = TicketRecordRow.__table__
            statement = (
                sqlite.insert(records)
                .on_conflict_do_nothing(index_elements=["source", "ticket_id"])
                .returning(records.c.index_terms)
            )
            inserted = session.execute(statement, values).scalars().all()
        if not inserted:
            return 0
        counts = Counter(term for terms in inserted for term in terms.split())
        counts[TOTAL] = len(inserted)
        self._count_terms(session, counts)
        return len(inserted)

    def _put_record(self, session: Session, record: TicketRecord) -> None:
        """The record as given, in `session`'s transaction: added when there is none for its source and ticket id,
        else its row rewritten (text, terms, place, caller key, matter, unit) and the term counts moved from the
        old terms to the new ones. Putting the same record twice changes nothing. The database's own index
        follows the row (SQLite: the update trigger; PostgreSQL: the generated column)."""
        row = session.scalar(
            select(TicketRecordRow)
            .where(TicketRecordRow.source == record.source, TicketRecordRow.ticket_id == record.ticket_id)
            .with_for_update()
        )
        if row is None:
            self._store_records(session, [record])
            return
        terms = index_terms(record.text)
        old, new = set(row.index_terms.split()), set(terms)
        counts = Counter({term: 1 for term in new - old} | {term: -1 for term in old - new})
        row.created_at = record.created_at
        row.text = record.text
        row.matter = record.matter[:256]
        row.district = record.district[:32]
        row.place = record.place[:128]
        row.department = record.department[:128]
        row.caller_key = record.caller_key
        row.index_terms = " ".join(terms)
        if counts:
            self._count_terms(session, counts)

    @staticmethod
    def _count_terms(session: Session, counts: Counter) -> None:
        """Add `counts` (term → change in the number of tickets holding it, negative for a ticket that no longer
        does) to `ticket_terms`; a term no ticket holds any more leaves the table."""
        # in term order: two transactions counting the same terms lock them in the same order (no deadlock)
        terms = [term for term in sorted(counts) if counts[term]]
        if not terms:
            return
        if session.bind.dialect.name == "postgresql":
            # one statement over two arrays: a batch of 5,000 tickets holds ~90,000 distinct terms, and as many
            # single-row upserts took half of an import's time (bench/related.py)
            session.execute(
                text(
                    "INSERT INTO ticket_terms (term, docs) "
                    "SELECT * FROM unnest(CAST(:terms AS varchar[]), CAST(:docs AS bigint[])) "
                    "ON CONFLICT (term) DO UPDATE SET docs = ticket_terms.docs + excluded.docs"
                ),
                {"terms": terms, "docs": [counts[term] for term in terms]},
            )
        else:
            table = TicketTerm.__table__  # the table: SQLite's executemany, without the ORM's bulk bookkeeping
            upsert = sqlite.insert(table)
            session.execute(
                upsert.on_conflict_do_update(
                    index_elements=["term"], set_={"docs": table.c.docs + upsert.excluded.docs}
                ),
                [{"term": term, "docs": counts[term]} for term in terms],
            )
        gone = sorted(term for term, change in counts.items() if change < 0)
        for start in range(0, len(gone), 5000):  # within SQLite's limit of bound parameters
            batch = gone[start : start + 5000]
            session.execute(delete(TicketTerm).where(TicketTerm.term.in_(batch), TicketTerm.docs <= 0))

    def record(self, ticket_id: str, source: str) -> TicketRecord | None:
        with self.sessions() as session:
            row = session.scalar(
                select(TicketRecordRow).where(TicketRecordRow.source == source, TicketRecordRow.ticket_id == ticket_id)
            )
            return _record(row) if row is not None else None

    def record_count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(TicketTerm.docs).where(TicketTerm.term == TOTAL)) or 0

    # -- search ---------------------------------------------------------------------------------------------------

    def related(self, call_id: str, options: RelatedOptions) -> list[RelatedTicket]:
        """Earlier tickets related to a finished call's ticket, best first, with the operators' decisions.
        CallConflictError when the call has no ticket record yet."""
        with self.sessions() as session:
            row = session.scalar(
                select(TicketRecordRow).where(TicketRecordRow.source == "call", TicketRecordRow.ticket_id == call_id)
            )
            if row is None:
                raise CallConflictError(f"call {call_id} has no ticket to compare yet")
            decisions = dict(
                session.execute(
                    select(TicketLink.record_id, TicketLink.action).where(TicketLink.call_id == call_id)
                ).all()
            )
        # the stored terms: the API process never loads the text tools (extract.routing's libraries)
        return self.related_to(_record(row), options, decisions=decisions, terms=row.index_terms.split())

    def related_to(
        self,
        query: TicketRecord,
        options: RelatedOptions,
        decisions: dict[int, str] | None = None,
        terms: list[str] | None = None,
    ) -> list[RelatedTicket]:
        """Earlier tickets related to `query` (a stored record or not: the bench asks with texts of its own);
        `terms` are its index terms when known."""
        decisions = decisions or {}
        at = query.created_at
        terms = index_terms(query.text) if terms is None else terms
        with self.sessions() as session:
            found: dict[int, TicketRecordRow] = {}
            same_caller: set[int] = set()
            same_place: set[int] = set()
            if query.caller_key:
                rows = session.scalars(
                    select(TicketRecordRow)
                    .where(TicketRecordRow.caller_key == query.caller_key, self._window(at, options.caller_window_days))
                    .order_by(TicketRecordRow.created_at.desc())
                    .limit(options.candidates)
                ).all()
                found.update((row.id, row) for row in rows)
                same_caller.update(row.id for row in rows)
            if query.place:
                # a ticket that names no district may still be on the same road
                district = TicketRecordRow.district.in_((query.district, "")) if query.district else true()
                rows = session.scalars(
                    select(TicketRecordRow)
                    .where(
                        TicketRecordRow.place == query.place,
                        district,
                        self._window(at, options.place_window_days),
                    )
                    .order_by(TicketRecordRow.created_at.desc())
                    .limit(options.candidates)
                ).all()
                found.update((row.id, row) for row in rows)
                same_place.update(row.id for row in rows)
            weights = self._term_counts(session, terms)
            for row in self._text_candidates(session, terms, weights, at, options):
                found.setdefault(row.id, row)
            found = {
                key: row
                for key, row in found.items()
                if not (row.source == query.source and row.ticket_id == query.ticket_id)
            }
            other_terms = {key: row.index_terms.split() for key, row in found.items()}
            weights.update(self._term_counts(session, {t for ts in other_terms.values() for t in ts} - set(weights)))
        scorer = TermWeights(weights, weights.get(TOTAL, 0))
        query_terms = set(terms)
        query_norm = scorer.norm(query_terms)
        results = []
        for key, row in found.items():
            score = scorer.cosine(query_terms, set(other_terms[key]), query_norm)
            matter = score >= options.same_matter_threshold
            if not (matter or key in same_caller or key in same_place):
                continue
            days = max(0, (at - row.created_at).days)
            reasons = []
            if key in same_caller:
                reasons.append("同一来电号码")
            reasons.append("当天" if days == 0 else f"{days}天前")
            if key in same_place:
                reasons.append(f"同一地点（{row.place}）")
            if matter:
                reasons.append(f"同一事项（相似度{score:.2f}）")
            results.append(
                RelatedTicket(
                    record=_record(row),
                    similarity=round(score, 4),
                    same_caller=key in same_caller,
                    same_place=key in same_place,
                    same_matter=matter,
                    days_before=days,
                    reasons=reasons,
                    decision=decisions.get(key),
                )
            )
        results.sort(key=lambda item: (-item.score, -item.record.created_at.timestamp(), item.record.ticket_id))
        return results[: options.max_results]

    @staticmethod
    def _window(at: datetime, days: float):
        return and_(TicketRecordRow.created_at >= at - timedelta(days=days), TicketRecordRow.created_at <= at)

    @staticmethod
    def _term_counts(session: Session, terms: Iterable[str]) -> dict[str, int]:
        wanted = sorted({*terms, TOTAL})
        counts: dict[str, int] = {}
        query = text("SELECT term, docs FROM ticket_terms WHERE term IN :terms").bindparams(
            bindparam("terms", expanding=True)
        )
        for start in range(0, len(wanted), 5000):  # within SQLite's limit of bound parameters
            rows = session.execute(query, {"terms": wanted[start : start + 5000]})
            counts.update((term, docs) for term, docs in rows)
        return counts

    @staticmethod
    def _text_candidates(
        session: Session, terms: list[str], counts: dict[str, int], at: datetime, options: RelatedOptions
    ) -> list[TicketRecordRow]:
        """The full-text index's best matches for the query's rarest terms within the matter window."""
        rare = sorted((term for term in terms if counts.get(term)), key=lambda term: counts[term])
        rare = rare[: options.query_terms]
        if not rare:
            return []
        since = at - timedelta(days=options.matter_window_days)
        if session.bind.dialect.name == "postgresql":
            # terms are letters and digits only (index_terms), so quoting each makes a valid tsquery
            tsquery = " | ".join(f"'{term}'" for term in rare)
            ids = session.scalars(
                text(
                    "SELECT id FROM ticket_records WHERE index_vector @@ CAST(:q AS tsquery) "
                    "AND created_at >= :since AND created_at <= :until "
                    "ORDER BY ts_rank(index_vector, CAST(:q AS tsquery)) DESC LIMIT :n"
                ),
                {"q": tsquery, "since": since, "until": at, "n": options.candidates},
            ).all()
        else:
            match = " OR ".join(f'"{term}"' for term in rare)
            rowids = session.scalars(
                text(
                    "SELECT rowid FROM ticket_text_index WHERE ticket_text_index MATCH :q "
                    "AND rowid >= :low AND rowid < :high ORDER BY rank LIMIT :n"
                ),
                {
                    "q": match,
                    "low": _julian_day(since) << 32,
                    "high": (_julian_day(at) + 1) << 32,
                    "n": options.candidates,
                },
            ).all()
            ids = [rowid & 0xFFFFFFFF for rowid in rowids]
        if not ids:
            return []
        return list(
            session.scalars(
                select(TicketRecordRow).where(
                    TicketRecordRow.id.in_(ids), TicketRecordRow.created_at >= since, TicketRecordRow.created_at <= at
                )
            )
        )

    # -- links ----------------------------------------------------------------------------------------------------

    def check_linkable(
        self, call_id: str, ticket_id: str, source: str | None, scope: CallScope, options: RelatedOptions
    ) -> None:
        """CallNotFoundError ("no ticket …", as for none) unless a caller of `scope` may decide about the ticket for
        this call: one that `related` lists for it, one decided about for it before, or a call in the scope. A link's
        answer shows the ticket's text and unit, so without this an operator could read the ticket of any call by
        its id (and tell which ids exist) through a call of its own."""
        if scope.everything:
            return
        with self.sessions() as session:
            target = self._target(session, ticket_id, source)
            decided = select(TicketLink.id).where(TicketLink.call_id == call_id, TicketLink.record_id == target.id)
            if session.scalar(decided) is not None:
                return
            if target.source == "call":
                in_scope = select(Call.id).where(Call.id == target.ticket_id, scope.clause())
                if session.scalar(in_scope) is not None:
                    return
        try:
            listed = self.related(call_id, options)
        except CallConflictError:  # no ticket of its own yet: nothing is related to it
            listed = []
        if not any((item.record.source, item.record.ticket_id) == (target.source, target.ticket_id) for item in listed):
            raise CallNotFoundError(f"no ticket {ticket_id}")

    def decide(self, call_id: str, ticket_id: str, source: str | None, action: str, actor: str) -> list[str]:
        """Link the call to an earlier ticket (并单) or dismiss it; returns the webhook deliveries queued.
        Deciding again replaces the decision. CallNotFoundError when the ticket is unknown."""
        if action not in LINK_ACTIONS:
            raise ValueError(f"unknown link action {action!r}")
        with self.sessions.begin() as session:
            call = session.get(Call, call_id, with_for_update=True)
            if call is None:
                raise CallNotFoundError(f"no call {call_id}")
            target = self._target(session, ticket_id, source)
            if target.source == "call" and target.ticket_id == call_id:
                raise CallConflictError("a call cannot be linked to itself")
            link = session.scalar(
                select(TicketLink).where(TicketLink.call_id == call_id, TicketLink.record_id == target.id)
            )
            was = link.action if link is not None else None
            now = utcnow()
            if link is None:
                link = TicketLink(call_id=call_id, record_id=target.id, action=action, actor=actor, at=now)
                session.add(link)
            else:
                link.action, link.actor, link.at = action, actor, now
            changes: dict = {"related": {"ticket_id": target.ticket_id, "source": target.source}}
            shares_dispatch = action == "link" and target.department and call.ticket_state != "accepted"
            if shares_dispatch and call.department != target.department:
                # one matter, one dispatch: the call goes to the unit the earlier ticket went to
                changes["department"] = {"old": call.department, "new": target.department}
                call.department = target.department
                # the call's record follows (reports' department load, the next repeat's shared unit)
                session.execute(
                    update(TicketRecordRow)
                    .where(TicketRecordRow.source == "call", TicketRecordRow.ticket_id == call_id)
                    .values(department=target.department)
                )
            session.add(TicketChange(call_id=call_id, actor=actor, at=now, action=action, changes=changes))
            call.updated_at = now
            if action == "link" and was != "link":
                return self._queue_event(session, call, "ticket.linked", _link_payload(call_id, target, actor, now))
            if action == "dismiss" and was == "link":
                return self._queue_event(session, call, "ticket.unlinked", _link_payload(call_id, target, actor, now))
            return []

    def undo(self, call_id: str, ticket_id: str, source: str | None, actor: str) -> list[str]:
        """Take back a link or a dismissal; returns the webhook deliveries queued (an unlink is announced).
        CallNotFoundError when there is no such decision."""
        with self.sessions.begin() as session:
            call = session.get(Call, call_id, with_for_update=True)
            if call is None:
                raise CallNotFoundError(f"no call {call_id}")
            target = self._target(session, ticket_id, source)
            link = session.scalar(
                select(TicketLink).where(TicketLink.call_id == call_id, TicketLink.record_id == target.id)
            )
            if link is None:
                raise CallNotFoundError(f"call {call_id} has no link to ticket {ticket_id}")
            was = link.action
            now = utcnow()
            session.execute(delete(TicketLink).where(TicketLink.id == link.id))
            session.add(
                TicketChange(
                    call_id=call_id,
                    actor=actor,
                    at=now,
                    action="unlink" if was == "link" else "undismiss",
                    changes={"related": {"ticket_id": target.ticket_id, "source": target.source}},
                )
            )
            call.updated_at = now
            if was == "link":
                return self._queue_event(session, call, "ticket.unlinked", _link_payload(call_id, target, actor, now))
            return []

    def links(self, call_id: str) -> list[LinkView]:
        """This call's decisions about earlier tickets, and the later calls linked to this one, oldest first."""
        with self.sessions() as session:
            own = session.execute(
                select(TicketLink, TicketRecordRow)
                .join(TicketRecordRow, TicketRecordRow.id == TicketLink.record_id)
                .where(TicketLink.call_id == call_id)
            ).all()
            mine = session.scalar(
                select(TicketRecordRow.id).where(TicketRecordRow.source == "call", TicketRecordRow.ticket_id == call_id)
            )
            incoming = []
            if mine is not None:
                incoming = session.execute(
                    select(TicketLink, TicketRecordRow)
                    .join(
                        TicketRecordRow,
                        and_(TicketRecordRow.source == "call", TicketRecordRow.ticket_id == TicketLink.call_id),
                    )
                    .where(TicketLink.record_id == mine, TicketLink.action == "link")
                ).all()
        views = [LinkView(call_id, _record(row), link.action, link.actor, link.at, "to") for link, row in own]
        views += [
            LinkView(link.call_id, _record(row), link.action, link.actor, link.at, "from") for link, row in incoming
        ]
        return sorted(views, key=lambda view: view.at)

    @staticmethod
    def _target(session: Session, ticket_id: str, source: str | None) -> TicketRecordRow:
        query = select(TicketRecordRow).where(TicketRecordRow.ticket_id == ticket_id)
        if source is not None:
            query = query.where(TicketRecordRow.source == source)
        rows = session.scalars(query.order_by(TicketRecordRow.source).limit(2)).all()
        if not rows:
            raise CallNotFoundError(f"no ticket {ticket_id}")
        if len(rows) > 1:
            raise CallConflictError(f"ticket {ticket_id} is both a call and an imported ticket: say which (source)")
        return rows[0]


def _link_payload(call_id: str, target: TicketRecordRow, actor: str, at: datetime) -> dict:
    """A link's webhook body: ids, the shared unit, who and when; never the tickets' texts (they hold numbers)."""
    return {
        "call_id": call_id,
        "ticket_id": target.ticket_id,
        "source": target.source,
        "department": target.department or None,
        "actor": actor,
        "at": at.isoformat(),
    }


__all__ = ["LINK_ACTIONS", "LinkView", "RelatedOptions", "RelatedTicket", "RelatedTickets"]
