"""/v1/session: the web pages' login. The key typed into the login form goes into an HttpOnly cookie (the
pages' script never keeps it); every /v1 endpoint then accepts the cookie as it accepts the header."""

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.auth import SESSION_COOKIE, principal_of
from api.errors import ERRORS, ApiError

router = APIRouter(prefix="/v1/session", tags=["session"])

SESSION_MAX_AGE_S = 12 * 3600  # one shift


class LoginIn(BaseModel):
    key: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    name: str
    role: str
    agent_id: str | None = None


@router.post("", response_model=SessionOut, responses=ERRORS, summary="Log in with an API key (sets a cookie)")
def login(request: Request, response: Response, body: LoginIn) -> SessionOut:
    key = body.key.strip()
    principal = principal_of(request, key)
    if principal is None or principal.role not in ("operator", "qa", "admin"):
        raise ApiError(401, "unauthorized", "this key does not open the operator or QA pages")
    response.set_cookie(
        SESSION_COOKIE,
        key,
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return SessionOut(name=principal.name, role=principal.role, agent_id=principal.agent_id)


@router.get("", response_model=SessionOut, responses=ERRORS, summary="Who is logged in")
def whoami(request: Request) -> SessionOut:
    key = request.cookies.get(SESSION_COOKIE) or ""
    principal = principal_of(request, key) if key else None
    if principal is None:
        raise ApiError(401, "unauthorized", "not logged in")
    return SessionOut(name=principal.name, role=principal.role, agent_id=principal.agent_id)


@router.delete("", status_code=204, summary="Log out")
def logout(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.status_code = 204
    return response
