"""Request bodies bounded in size and in time, enforced while they stream in, before anything is parsed or stored;
and responses bounded in time, so that a client that stops reading does not hold a connection for ever."""

import asyncio
import json
import logging

logger = logging.getLogger(__name__)

JSON_BODY_LIMIT = 1_000_000
"""Every body but a pushed recording's: the largest JSON the API takes (a QA audit with its turn marks) is a
few tens of kB. The push has the upload limit (HOTLINE_MAX_UPLOAD_MB)."""


class BodyRefused(Exception):
    """Raised from `receive` when a body passes a bound; the middleware answers `status` and closes."""

    status = 400
    code = "bad_request"


class BodyTooLarge(BodyRefused):
    status = 413
    code = "too_large"


class BodyTimedOut(BodyRefused):
    status = 408
    code = "timeout"


class BodyGuard:
    """ASGI middleware: a request whose Content-Length or streamed body exceeds `max_bytes(scope)` gets a 413; one
    whose next body chunk takes longer than `idle_s`, or whole body longer than `total_s` (`timeouts()` →
    (idle_s, total_s)), a 408. Counting as bytes arrive keeps memory flat however large the upload (chunked too).
    Either answer says `connection: close`, so that the rest of the body is not read; where the app turned the
    refusal into an answer of its own (FastAPI says 400 when reading a JSON body fails), ours replaces it."""

    def __init__(self, app, max_bytes, timeouts):
        self.app = app
        self.max_bytes = max_bytes  # (scope) -> int; both read from the app's settings at request time
        self.timeouts = timeouts  # () -> (idle_s, total_s)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes(scope)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return await _refuse(send, _too_large(limit))
        idle_s, total_s = self.timeouts()
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        received = 0
        more_body = True
        refused: BodyRefused | None = None
        started = False

        async def guarded_receive():
            nonlocal deadline, received, more_body, refused
            if refused is not None:
                raise refused
            if not more_body:  # the body is in: the app now waits for the disconnect, which may take any time
                return await receive()
            now = loop.time()
            deadline = deadline or now + total_s
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.0, min(idle_s, deadline - now)))
            except TimeoutError:
                whole = deadline - now <= idle_s
                refused = BodyTimedOut(
                    f"request body not complete within {total_s:g} s"
                    if whole
                    else f"request body stalled: nothing received for {idle_s:g} s"
                )
                raise refused from None
            if message["type"] != "http.request":
                more_body = False
                return message
            received += len(message.get("body", b""))
            more_body = message.get("more_body", False)
            if received > limit:
                refused = _too_large(limit)
                raise refused
            return message

        async def guarded_send(message):
            nonlocal started
            if refused is not None:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _refuse(send, refused)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except BodyRefused as error:
            if started:
                raise  # a response under way cannot be taken back: the server closes the connection
            await _refuse(send, error)


class ReaderStalled(Exception):
    """The client took no part of the response for the send timeout."""


class SendGuard:
    """ASGI middleware: a response whose next piece the client does not take within `idle_s()` seconds is given
    up, and the server closes the connection. A client that requests a long recording and reads nothing would
    otherwise hold its connection (and an open file) for as long as it likes; memory stays flat either way,
    since the audio is streamed."""

    def __init__(self, app, idle_s):
        self.app = app
        self.idle_s = idle_s  # () -> float, read from the app's settings at request time

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        idle_s = self.idle_s()

        async def timed_send(message):
            if message["type"] != "http.response.body":
                return await send(message)
            try:
                await asyncio.wait_for(send(message), timeout=idle_s)
            except TimeoutError:
                raise ReaderStalled from None

        try:
            await self.app(scope, receive, timed_send)
        except ReaderStalled:  # the response has begun: nothing more can be said; the server closes the connection
            logger.info(
                "%s %s: the client read nothing for %g s; connection closed", scope["method"], scope["path"], idle_s
            )


def _too_large(limit: int) -> BodyTooLarge:
    size = f"{limit // 1_000_000} MB" if limit >= 1_000_000 else f"{limit // 1000} kB"
    return BodyTooLarge(f"request body larger than the limit of {size}")


async def _refuse(send, error: BodyRefused) -> None:
    body = json.dumps({"error": {"code": error.code, "message": str(error)}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
