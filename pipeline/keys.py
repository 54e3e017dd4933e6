"""API keys and roles.

A key is `hk_` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored: with that much
entropy a slow password hash buys nothing, and the lookup stays one indexed query per request.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.database import ApiKey, utcnow

ROLES = ("telephony", "operator", "qa", "admin")
"""telephony: push calls, read their status · operator: read calls, review tickets · qa: read, audit ·
admin: everything, and keys."""

KEY_PREFIX = "hk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: the key's id, name and role (and an operator's agent id)."""

    key_id: int
    name: str
    role: str
    agent_id: str | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Session,
    role: str,
    name: str,
    *,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    agent_id: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the key itself, which is shown once and never stored."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not name or len(name) > 64:
        raise ValueError("a key needs a name of 1-64 characters")
    if agent_id is not None and not 1 <= len(agent_id) <= 64:
        raise ValueError("an agent id has 1-64 characters")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        role=role,
        prefix=key[:10],
        key_hash=hash_key(key),
        webhook_url=webhook_url,
        webhook_secret=webhook_secret or (secrets.token_urlsafe(32) if webhook_url else None),
        agent_id=agent_id,
    )
    session.add(row)
    session.flush()
    return row, key


def authenticate(session: Session, key: str | None, now: datetime | None = None) -> Principal | None:
    """The principal of a valid, unrevoked key; None for anything else."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    # looked up by its hash: the key itself is never compared or stored
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if row is None:
        return None
    if row.revoked_at is not None and row.revoked_at <= (now or utcnow()):
        return None
    return Principal(key_id=row.id, name=row.name, role=row.role, agent_id=row.agent_id)


def revoke_key(session: Session, key_id: int) -> bool:
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True
