"""Which calls one caller may see (`CallScope`): applied to every read the API makes for a caller."""

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, true

from pipeline.service.database import (
    Call,
)


@dataclass(frozen=True)
class CallScope:
    """The calls one caller may see: every call, or those pushed by `pushed_by`, taken under `agent_id` or of
    `team` (any of these). With none of them, no call at all: a scope never widens by omission."""

    everything: bool = False
    pushed_by: int | None = None
    agent_id: str | None = None
    team: str | None = None

    def clause(self) -> ColumnElement[bool]:
        if self.everything:
            return true()
        owners = [
            column == value
            for column, value in (
                (Call.pushed_by, self.pushed_by),
                (Call.agent_id, self.agent_id),
                (Call.team, self.team),
            )
            if value is not None
        ]
        return or_(*owners) if owners else false()
