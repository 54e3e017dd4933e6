"""API keys on every request: `Authorization: Bearer <key>` (or `X-API-Key: <key>`, or the web pages' login
cookie), checked against the hashed keys in the database, then the route's roles."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from pipeline.keys import Principal, authenticate

SESSION_COOKIE = "hotline_key"
"""The web pages' login (POST /v1/session): the key in an HttpOnly, SameSite=Strict cookie, so that the
audio element can stream a recording with Range requests the way it does any URL."""
UI_HEADER = "x-hotline-ui"
"""Sent by the web pages with every change they make. A cookie travels with any request the browser makes;
a custom header only with our own pages' (another site cannot set one without a CORS preflight, which
this API never grants), so a changing request that presents the cookie without it is refused."""
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"]
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and request.method not in SAFE_METHODS and request.headers.get(UI_HEADER) != "1":
        raise ApiError(403, "forbidden", f"a change made with the login cookie needs the {UI_HEADER} header")
    return cookie


def principal_of(request: Request, key: str) -> Principal | None:
    with request.app.state.services.repository.sessions() as session:
        return authenticate(session, key)


def require(*roles: str) -> Callable[[Request], Principal]:
    """A dependency that lets through keys with one of `roles` (admin always) and refuses the rest."""
    allowed = set(roles) | {"admin"}

    def check(request: Request) -> Principal:
        key = _presented_key(request)
        if not key:
            raise ApiError(401, "unauthorized", "an API key is required (Authorization: Bearer <key>)")
        principal = principal_of(request, key)
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
