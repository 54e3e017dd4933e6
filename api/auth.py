"""API keys on every request: `Authorization: Bearer <key>` (or `X-API-Key: <key>`), checked against the hashed
keys in the database, or the web pages' login session cookie; then the route's roles. Which calls the key may
then see is its `Principal.scope` (pipeline.service.keys), applied by the repository.

Invalid keys and failed logins are counted per client address (`FailureLimiter`): past the limit, that
address's key checks and logins are answered 429 with Retry-After until its failures age out.
"""

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from api.deps import services_of
from api.errors import ApiError
from pipeline.service.keys import Principal

logger = logging.getLogger(__name__)

SESSION_COOKIE = "hotline_session"
"""The web pages' login (POST /v1/session): a random session token in an HttpOnly, SameSite=Strict cookie, so
that the audio element can stream a recording with Range requests the way it does any URL. The token names a
server-side session (pipeline.service.keys); the key itself is never put in a cookie."""
UI_HEADER = "x-hotline-ui"
"""Sent by the web pages with every change they make. A cookie travels with any request the browser makes;
a custom header only with our own pages' (another site cannot set one without a CORS preflight, which
this API never grants), so a changing request that presents the cookie without it is refused."""
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class FailureLimiter:
    """Failures (invalid keys, failed logins) per client address within a sliding window, in memory.

    `retry_after` is 0 while an address has had fewer than `max_failures` failures in the last `window_s`
    seconds, else the seconds until the oldest of them leaves the window. At most `max_addresses` addresses
    are tracked (the longest quiet ones are forgotten first), so a flood from many addresses stays small.
    Per process: with several API processes each counts its own, which still bounds guessing.
    """

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        *,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_failures, self.window_s, self.max_addresses, self.clock = max_failures, window_s, max_addresses, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        with self._lock:
            failures = self._recent(address, self.clock())
            if failures is None or len(failures) < self.max_failures:
                return 0
            return max(1, math.ceil(failures[0] + self.window_s - self.clock()))

    def fail(self, address: str) -> bool:
        """Count a failure; True when it is the one that blocks the address."""
        with self._lock:
            now = self.clock()
            failures = self._recent(address, now)
            if failures is None:
                if len(self._failures) >= self.max_addresses:
                    self._forget(now)
                failures = self._failures[address] = deque(maxlen=self.max_failures)
            else:  # most recently failed last: dict order is then least recently failed first
                self._failures[address] = self._failures.pop(address)
            failures.append(now)
            return len(failures) == self.max_failures

    def __len__(self) -> int:
        """How many addresses are tracked."""
        return len(self._failures)

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def _forget(self, now: float) -> None:
        for address in [a for a, f in self._failures.items() if f[-1] <= now - self.window_s]:
            del self._failures[address]
        while len(self._failures) >= self.max_addresses:
            del self._failures[next(iter(self._failures))]


_limiter_lock = threading.Lock()


def failure_limiter(request: Request) -> FailureLimiter:
    """The app's limiter, made on first use from the service's settings."""
    state = request.app.state
    limiter = getattr(state, "auth_failures", None)
    if limiter is None:
        with _limiter_lock:
            limiter = getattr(state, "auth_failures", None)
            if limiter is None:
                options = services_of(request).settings.auth
                limiter = state.auth_failures = FailureLimiter(options.max_failures, options.failure_window_s)
    return limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_not_blocked(request: Request) -> None:
    """429 with Retry-After when this client address has failed too often lately."""
    wait = failure_limiter(request).retry_after(client_address(request))
    if wait:
        raise ApiError(
            429, "too_many_requests", "too many invalid keys from this address; retry later", {"Retry-After": str(wait)}
        )


def record_failure(request: Request) -> None:
    limiter = failure_limiter(request)
    if limiter.fail(client_address(request)):  # a security event: someone may be guessing keys
        logger.warning(
            "client %s blocked: %d invalid keys or failed logins within %.0f s",
            client_address(request),
            limiter.max_failures,
            limiter.window_s,
        )


def key_principal(request: Request, key: str) -> Principal | None:
    return services_of(request).keys.authenticate(key)


def cookie_principal(request: Request) -> Principal | None:
    """The principal of the request's live login session, if any (its last use noted now and then)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    services = services_of(request)
    return services.keys.session_principal(token, idle_s=services.settings.auth.session_idle_s)


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key") or None


def _principal(request: Request) -> Principal:
    key = _presented_key(request)
    if key:
        check_not_blocked(request)
        principal = key_principal(request, key)
        if principal is None:
            record_failure(request)
            raise ApiError(401, "unauthorized", "the API key is not valid")
        return principal
    if SESSION_COOKIE in request.cookies:
        if request.method not in SAFE_METHODS and request.headers.get(UI_HEADER) != "1":
            raise ApiError(403, "forbidden", f"a change made with the login cookie needs the {UI_HEADER} header")
        # an ended session is the normal end of a login (logout, a shift over), not a guess: not counted
        principal = cookie_principal(request)
        if principal is None:
            raise ApiError(401, "unauthorized", "the login has ended; log in again")
        return principal
    raise ApiError(401, "unauthorized", "an API key is required (Authorization: Bearer <key>)")


def key_holder(connection: HTTPConnection, *roles: str) -> Principal:
    """The principal of the API key in `connection`'s headers, if its role is one of `roles` (admin always);
    ApiError 401/403/429 as `require`. For the live WebSocket: the login cookie does not count there, since a page
    of any site can open a WebSocket to this origin and the browser sends the cookie with it (no CORS applies)."""
    key = _presented_key(connection)
    if not key:
        raise ApiError(401, "unauthorized", "an API key is required (Authorization: Bearer <key>)")
    check_not_blocked(connection)
    principal = key_principal(connection, key)
    if principal is None:
        record_failure(connection)
        raise ApiError(401, "unauthorized", "the API key is not valid")
    if principal.role not in {*roles, "admin"}:
        raise ApiError(403, "forbidden", f"the {principal.role} role may not do this")
    return principal


def require(*roles: str) -> Callable[[Request], Principal]:
    """A dependency that lets through keys with one of `roles` (admin always) and refuses the rest."""
    allowed = set(roles) | {"admin"}

    def check(request: Request) -> Principal:
        principal = _principal(request)
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
