"""Security headers on every response the app sends: API answers, pages, errors (the body guard's 413 and 408
and the 500 included). Browsers are told not to guess content types (so a recording or a transcript is never
run as a page), not to send our URLs to other sites, and not to frame us; the pages get a Content-Security-
Policy that allows their own files only, the API one that allows nothing at all."""

__all__ = ["SecurityHeaders", "security_headers"]

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PAGES_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
"""Everything the pages (api/web) load comes from this origin; no inline script or style, no framing."""
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""An API answer opened as a document runs and loads nothing."""
DOCS_PATHS = ("/docs",)
"""The interactive docs (api.docs) set their own policy: their files and one inline script by its hash."""


def security_headers(path: str) -> dict[str, str]:
    """The headers a response to `path` carries."""
    if path == "/" or path.startswith("/ui"):
        return {**COMMON, "Content-Security-Policy": PAGES_CSP}
    if path.startswith(DOCS_PATHS):
        return dict(COMMON)
    headers = {**COMMON, "Content-Security-Policy": API_CSP}
    if path.startswith("/v1/"):
        headers["Cache-Control"] = "no-store"  # transcripts and tickets are personal data (audio sets its own)
    return headers


class SecurityHeaders:
    """Pure ASGI (not @app.middleware, whose task group would wrap the body guard's exceptions): adds the headers
    above to every response, leaving any the route set itself."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        wanted = security_headers(scope.get("path", ""))

        async def with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.lower().encode(), value.encode())
                    for name, value in wanted.items()
                    if name.lower().encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
