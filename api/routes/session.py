"""/v1/session: the web pages' login. The key typed into the login form opens a server-side session; the
browser gets only the session's random token, in an HttpOnly cookie (the pages' script never keeps the key or
the token). Every /v1 endpoint then accepts the cookie for the key's role. A login always opens a new session
(and ends the one the browser presented, if any), so a token planted before the login is worth nothing after
it; logging out ends the session on the server, so a copied cookie stops working too."""

import logging

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.auth import SESSION_COOKIE, check_not_blocked, client_address, cookie_principal, key_principal, record_failure
from api.deps import ServicesDep
from api.errors import ERRORS, ApiError

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/session", tags=["session"])

PAGE_ROLES = ("operator", "qa", "admin")
LEGACY_KEY_COOKIE = "hotline_key"
"""Before server-side sessions the cookie held the key itself: removed at every login and logout, so no
browser keeps a key it was given then."""


class LoginIn(BaseModel):
    key: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    name: str
    role: str
    agent_id: str | None = None


@router.post("", response_model=SessionOut, responses=ERRORS, summary="Log in with an API key (sets a cookie)")
def login(request: Request, response: Response, body: LoginIn, services: ServicesDep) -> SessionOut:
    check_not_blocked(request)
    principal = key_principal(request, body.key.strip())
    if principal is None:
        record_failure(request)
    if principal is None or principal.role not in PAGE_ROLES:
        raise ApiError(401, "unauthorized", "this key does not open the operator or QA pages")
    max_age_s = services.settings.auth.session_max_age_s
    token = services.keys.open_session(
        principal.key_id, max_age_s=max_age_s, replacing=request.cookies.get(SESSION_COOKIE)
    )
    logger.info("page login: key %d (%s) from %s", principal.key_id, principal.role, client_address(request))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(max_age_s),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(LEGACY_KEY_COOKIE, path="/", httponly=True, samesite="strict")
    return SessionOut(name=principal.name, role=principal.role, agent_id=principal.agent_id)


@router.get("", response_model=SessionOut, responses=ERRORS, summary="Who is logged in")
def whoami(request: Request) -> SessionOut:
    principal = cookie_principal(request)
    if principal is None:
        raise ApiError(401, "unauthorized", "not logged in")
    return SessionOut(name=principal.name, role=principal.role, agent_id=principal.agent_id)


@router.delete("", status_code=204, summary="Log out (ends the session on the server)")
def logout(request: Request, response: Response, services: ServicesDep) -> Response:
    services.keys.close_session(request.cookies.get(SESSION_COOKIE))
    for name in (SESSION_COOKIE, LEGACY_KEY_COOKIE):
        response.delete_cookie(name, path="/", httponly=True, samesite="strict")
    response.status_code = 204
    return response
