"""Retention: the recordings of finished calls that may be deleted, and marking them deleted."""

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from pipeline.service.database import (
    Call,
    utcnow,
)


class Retention:
    """Which recordings may go (`HOTLINE_RETENTION_DAYS`), and which are still in use."""

    sessions: sessionmaker

    def recordings_to_delete(self, older_than: datetime) -> Iterator[tuple[str, str]]:
        """(call id, recording key) of finished calls older than the retention cut-off, audio not yet deleted."""
        with self.sessions() as session:
            yield from session.execute(
                select(Call.id, Call.recording_key).where(
                    Call.status.in_(("done", "failed")), Call.created_at < older_than, Call.audio_deleted_at.is_(None)
                )
            ).all()

    def mark_audio_deleted(self, call_id: str) -> None:
        with self.sessions.begin() as session:
            session.execute(update(Call).where(Call.id == call_id).values(audio_deleted_at=utcnow()))

    def recording_in_use(self, key: str) -> bool:
        """Whether a call whose audio is kept still points at this recording (same content pushed twice)."""
        with self.sessions() as session:
            return bool(
                session.scalar(
                    select(func.count(Call.id)).where(Call.recording_key == key, Call.audio_deleted_at.is_(None))
                )
            )
