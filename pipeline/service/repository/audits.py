"""QA audits, the per-agent summary, and processing statistics for /metrics."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from models import CallConflictError, CallNotFoundError
from pipeline.service.database import (
    Audit,
    Call,
)
from pipeline.service.repository.scope import CallScope
from pipeline.service.repository.search import call_time


class AuditsAndStats:
    """QA audits of calls, their per-agent summary, processing statistics and counts by status."""

    sessions: sessionmaker

    def add_audit(
        self, call_id: str, actor: str, score: float, rubric: dict, checks: dict, marks: list, comment: str | None
    ) -> Audit:
        with self.sessions.begin() as session:
            call = session.get(Call, call_id)
            if call is None:
                raise CallNotFoundError(f"no call {call_id}")
            if call.transcript is None:
                raise CallConflictError(f"call {call_id} has no transcript to audit yet")
            audit = Audit(
                call_id=call_id, actor=actor, score=score, rubric=rubric, checks=checks, marks=marks, comment=comment
            )
            session.add(audit)
            session.flush()
            call.audit_score, call.audited_at = score, audit.at
            return audit

    def audits(self, call_id: str) -> list[Audit]:
        with self.sessions() as session:
            return list(session.scalars(select(Audit).where(Audit.call_id == call_id).order_by(Audit.id)))

    def agent_summary(
        self, scope: CallScope, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict]:
        """Per operator (agent id), over the finished calls in `scope` dated (`search.call_time`) in [since, until):
        how many, how many audited, the scores of their latest audits (kept on the call) and those audits' turn
        marks by kind. For the QA page's table."""
        window = [Call.status == "done", Call.agent_id.is_not(None), scope.clause()]
        if since is not None:
            window.append(call_time() >= since)
        if until is not None:
            window.append(call_time() < until)
        totals = select(
            Call.agent_id,
            func.count(Call.id),
            func.count(Call.audited_at),
            func.avg(Call.audit_score),
            func.min(Call.audit_score),
        )
        latest = select(func.max(Audit.id)).join(Call, Call.id == Audit.call_id).where(*window).group_by(Audit.call_id)
        with self.sessions() as session:
            summary = {
                agent: {
                    "agent_id": agent,
                    "calls": calls,
                    "audited": audited,
                    "mean_score": round(mean, 1) if mean is not None else None,
                    "min_score": low,
                    "marks": {},
                }
                for agent, calls, audited, mean, low in session.execute(
                    totals.where(*window).group_by(Call.agent_id).order_by(Call.agent_id)
                )
            }
            marks = select(Call.agent_id, Audit.marks).join(Call, Call.id == Audit.call_id).where(Audit.id.in_(latest))
            for agent, audit_marks in session.execute(marks):
                counts = summary[agent]["marks"]
                for mark in audit_marks or []:
                    kind = mark.get("kind", "other")
                    counts[kind] = counts.get(kind, 0) + 1
        return list(summary.values())

    def processing_stats(self, last: int = 500) -> dict:
        """Mean stage durations and real-time factor (processing s / audio s) over the last finished calls."""
        with self.sessions() as session:
            rows = session.execute(
                select(Call.timings, Call.audio_duration_s)
                .where(Call.status == "done")
                .order_by(Call.finished_at.desc())
                .limit(last)
            ).all()
        totals: dict[str, float] = {}
        busy = audio = 0.0
        for timings, duration in rows:
            for stage, seconds in (timings or {}).items():
                if isinstance(seconds, (int, float)):
                    totals[stage] = totals.get(stage, 0.0) + seconds
            if duration:
                busy += sum(v for k, v in (timings or {}).items() if k != "total" and isinstance(v, (int, float)))
                audio += duration
        return {
            "stages": {stage: total / len(rows) for stage, total in totals.items()} if rows else {},
            "real_time_factor": busy / audio if audio else 0.0,
        }

    def counts_by_status(self) -> dict[str, int]:
        with self.sessions() as session:
            return dict(session.execute(select(Call.status, func.count()).group_by(Call.status)).all())
