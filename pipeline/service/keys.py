"""API keys, roles, the calls each key may see, and the web pages' login sessions.

A key is `hk_` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored: with that much
entropy a slow password hash buys nothing, and the lookup stays one indexed query per request.

A login session (POST /v1/session) is another such token, `hs_` + 43 characters, in the pages' HttpOnly
cookie; the database keeps its SHA-256, the key it was opened with, and when it ends: `max_age_s` after the
login (one shift), `idle_s` after it was last used, at logout, or when its key is revoked. The key itself
never leaves the login request.

A key with a webhook URL gets a signing secret in the Standard Webhooks format (`whsec_` + base64, made by
`pipeline.service.webhooks.new_secret`); secrets stored before that format keep signing, as their UTF-8 bytes.

`KeyStore` keeps keys and login sessions, one short transaction per method: the API reaches it as
`Services.keys`, `hotline keys` builds one on the same database.

Which calls a key may see (`Principal.scope`, applied by `CallRepository` to every read):

- telephony: the calls it pushed (`calls.pushed_by`); a client's status and webhook log are its own.
- operator: the calls taken under its agent id (工号) and the calls of its team (班组). A call's team is the
  team of the operator key with the call's agent id when the call is registered, stored on the call, so a
  later change of keys moves no call. A key with neither agent id nor team sees no call.
- qa and admin: every call (quality assurance audits every operator).
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeGuard

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from pipeline.service.database import ApiKey, LoginSession, utcnow
from pipeline.service.repository import CallScope
from pipeline.service.webhooks import new_secret

ROLES = ("telephony", "operator", "qa", "admin")
"""telephony: push calls, read their status · operator: read calls, review tickets · qa: read, audit ·
admin: everything, and keys."""

KEY_PREFIX = "hk_"
SESSION_PREFIX = "hs_"
SESSION_TOUCH_S = 60.0
"""A session's last use is written at most once a minute: the idle timeout is that much coarse, and a page
that polls does not write a row per request."""


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: the key's id, name and role (an operator's agent id and team)."""

    key_id: int
    name: str
    role: str
    agent_id: str | None = None
    team: str | None = None

    @property
    def scope(self) -> CallScope:
        """The calls this key may see and act on (see the module docstring)."""
        if self.role in ("admin", "qa"):
            return CallScope(everything=True)
        if self.role == "telephony":
            return CallScope(pushed_by=self.key_id)
        if self.role == "operator":
            return CallScope(agent_id=self.agent_id, team=self.team)
        return CallScope()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """Keys and login sessions in the service's database, one short transaction per method. Rows it returns
    are detached (the sessions do not expire them on commit); their hashes stay in them: show only what
    the API's `KeyOut` shows."""

    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def create(
        self,
        role: str,
        name: str,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        agent_id: str | None = None,
        team: str | None = None,
    ) -> tuple[ApiKey, str]:
        """Store a new key; returns the row and the key itself, which is shown once and never stored."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if not name or len(name) > 64:
            raise ValueError("a key needs a name of 1-64 characters")
        if agent_id is not None and not 1 <= len(agent_id) <= 64:
            raise ValueError("an agent id has 1-64 characters")
        if team is not None:
            if role != "operator":
                raise ValueError("a team (班组) is for operator keys")
            if not 1 <= len(team) <= 64:
                raise ValueError("a team has 1-64 characters")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            name=name,
            role=role,
            prefix=key[:10],
            key_hash=hash_key(key),
            webhook_url=webhook_url,
            webhook_secret=webhook_secret or (new_secret() if webhook_url else None),
            agent_id=agent_id,
            team=team,
        )
        with self.sessions.begin() as session:
            session.add(row)
            session.flush()
        return row, key

    def all(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        with self.sessions() as session:
            return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))

    def revoke(self, key_id: int) -> bool:
        """Revoke a key and end its login sessions."""
        with self.sessions.begin() as session:
            row = session.get(ApiKey, key_id)
            if row is None or row.revoked_at is not None:
                return False
            now = utcnow()
            row.revoked_at = now
            session.execute(
                update(LoginSession)
                .where(LoginSession.key_id == key_id, LoginSession.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return True

    def authenticate(self, key: str | None, now: datetime | None = None) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else."""
        if not key or not key.startswith(KEY_PREFIX) or len(key) > 100:
            return None
        with self.sessions() as session:
            # looked up by its hash: the key itself is never compared or stored
            row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
        if row is None:
            return None
        if row.revoked_at is not None and row.revoked_at <= (now or utcnow()):
            return None
        return _principal(row)

    def open_session(
        self, key_id: int, *, max_age_s: float, replacing: str | None = None, now: datetime | None = None
    ) -> str:
        """A new login session for a key; returns its token (for the cookie; only its hash is stored). The
        session `replacing` (the token the browser presented, if any) ends in the same transaction. Sessions
        that have ended by age are deleted on the way, so the table holds no more than a shift of logins."""
        now = now or utcnow()
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        with self.sessions.begin() as session:
            _end_session(session, replacing, now)
            session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
            session.add(
                LoginSession(
                    token_hash=hash_key(token),
                    key_id=key_id,
                    created_at=now,
                    expires_at=now + timedelta(seconds=max_age_s),
                    last_seen_at=now,
                )
            )
        return token

    def session_principal(self, token: str | None, *, idle_s: float, now: datetime | None = None) -> Principal | None:
        """The principal of a live login session (not expired, not idle too long, not logged out, its key not
        revoked); None for anything else. Notes the use at most once a minute (`SESSION_TOUCH_S`)."""
        if not _is_session_token(token):
            return None
        now = now or utcnow()
        with self.sessions.begin() as session:
            found = session.execute(
                select(LoginSession, ApiKey)
                .join(ApiKey, ApiKey.id == LoginSession.key_id)
                .where(LoginSession.token_hash == hash_key(token))
            ).first()
            if found is None:
                return None
            login, key = found
            if login.revoked_at is not None or login.expires_at <= now:
                return None
            if login.last_seen_at + timedelta(seconds=idle_s) <= now:
                return None
            if key.revoked_at is not None and key.revoked_at <= now:
                return None
            if (now - login.last_seen_at).total_seconds() >= SESSION_TOUCH_S:
                login.last_seen_at = now
            return _principal(key)

    def close_session(self, token: str | None, now: datetime | None = None) -> bool:
        """Log out: the session ends at once, whoever holds a copy of its cookie."""
        with self.sessions.begin() as session:
            return _end_session(session, token, now or utcnow())


def _principal(row: ApiKey) -> Principal:
    return Principal(key_id=row.id, name=row.name, role=row.role, agent_id=row.agent_id, team=row.team)


def _is_session_token(token: str | None) -> TypeGuard[str]:
    return token is not None and token.startswith(SESSION_PREFIX) and len(token) <= 100


def _end_session(session: Session, token: str | None, now: datetime) -> bool:
    if not _is_session_token(token):
        return False
    ended = session.execute(
        update(LoginSession)
        .where(LoginSession.token_hash == hash_key(token), LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    return bool(ended)
