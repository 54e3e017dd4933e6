"""One log line per HTTP request, at INFO on the logger `hotline.requests` (`hotline serve` writes it).

The line holds the method, the path, the names of the query's parameters (never their values: a search or a
filter can carry a phone number), the status and the time to the end of the response, e.g.
`GET /v1/calls?q&since 200 12 ms`. The server's handlers mask numbers on top (`pipeline.logmask`), for a
number a client put in a path.
"""

import logging
import time
from urllib.parse import parse_qsl

__all__ = ["REQUEST_LOG", "RequestLog", "request_line"]

REQUEST_LOG = logging.getLogger("hotline.requests")


def request_line(method: str, path: str, query_string: bytes, status: int, seconds: float) -> str:
    """The logged line for one request."""
    names = dict.fromkeys(name for name, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    query = f"?{'&'.join(names)}" if names else ""
    return f"{method} {path}{query} {status} {seconds * 1000:.0f} ms"


class RequestLog:
    """Pure ASGI middleware, outermost: it sees the status every other layer settled on. A request that ends
    without a response (the client went away, an exception) logs status 500."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            seconds = time.perf_counter() - started
            query = scope.get("query_string", b"")
            REQUEST_LOG.info("%s", request_line(scope["method"], scope["path"], query, status, seconds))
