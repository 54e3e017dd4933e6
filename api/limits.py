"""Request body limit enforced while the body streams in, before anything is parsed or stored."""

import json


class BodyTooLarge(Exception):
    """Raised from `receive` when the body passes the limit; the middleware answers 413."""


class BodyLimit:
    """ASGI middleware: a request whose Content-Length or streamed body exceeds `max_bytes()` gets a 413 JSON
    error. Counting as bytes arrive keeps memory flat however large the upload (chunked uploads too)."""

    def __init__(self, app, max_bytes):
        self.app = app
        self.max_bytes = max_bytes  # () -> int: read from the app's settings at request time

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        limit = self.max_bytes(scope)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return await _reject(send, limit)
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reject(send, limit)


async def _reject(send, limit: int) -> None:
    body = json.dumps(
        {"error": {"code": "too_large", "message": f"request body larger than the limit of {limit // 1_000_000} MB"}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
