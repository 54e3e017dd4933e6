"""API keys on every request: `Authorization: Bearer <key>` (or `X-API-Key: <key>`), checked against the
hashed keys in the database, then the route's roles."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from pipeline.keys import Principal, authenticate


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


def require(*roles: str) -> Callable[[Request], Principal]:
    """A dependency that lets through keys with one of `roles` (admin always) and refuses the rest."""
    allowed = set(roles) | {"admin"}

    def check(request: Request) -> Principal:
        key = _presented_key(request)
        if not key:
            raise ApiError(401, "unauthorized", "an API key is required (Authorization: Bearer <key>)")
        services = request.app.state.services
        with services.repository.sessions() as session:
            principal = authenticate(session, key)
        if principal is None:
            raise ApiError(401, "unauthorized", "the API key is not valid")
        if principal.role not in allowed:
            raise ApiError(403, "forbidden", f"the {principal.role} role may not do this")
        request.state.principal = principal
        return principal

    return Depends(check)


# Which roles each kind of endpoint admits (admin is always admitted).
PushKey = Annotated[Principal, require("telephony")]
StatusKey = Annotated[Principal, require("telephony", "operator", "qa")]
ReadKey = Annotated[Principal, require("operator", "qa")]
ReviewKey = Annotated[Principal, require("operator")]
AuditKey = Annotated[Principal, require("qa")]
AdminKey = Annotated[Principal, require("admin")]
