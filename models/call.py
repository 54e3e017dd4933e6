"""Telephony metadata pushed with a recording."""

from dataclasses import dataclass, field
from datetime import datetime

ROLES = ("agent", "caller")


@dataclass(frozen=True)
class CallMeta:
    """What the telephony system knows about a call.

    `channel_map` maps a channel index (as a string, the way JSON writes it) to a role,
    e.g. {"0": "agent", "1": "caller"}.
    """

    call_id: str
    caller_number: str | None = None
    agent_id: str | None = None
    started_at: datetime | None = None
    channel_map: dict[str, str] = field(default_factory=dict)
