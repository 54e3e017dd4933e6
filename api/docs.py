"""The interactive API docs at /docs: Swagger UI 5 (OpenAPI 3.1, which FastAPI writes) from the pinned
`fastapi-offline` package's files, served by this app.

FastAPI's default /docs and /redoc load their scripts from a CDN (only the major version pinned, no integrity
hash) and run them on this origin, where they could act with a logged-in operator's cookie. Here the scripts
are this app's own files, and the page's Content-Security-Policy allows them and the one inline script FastAPI
writes (by its SHA-256), nothing else. ReDoc is not served: one documentation page is enough.
"""

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "DOCS", "docs_csp", "install"]

DOCS = "/docs"
ASSETS = "/docs/assets"


def docs_csp(html: str) -> str:
    """The page's policy: this origin's files, and the inline scripts of `html` by their hashes. Swagger UI
    sets style attributes as it renders, hence inline styles."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def install(app: FastAPI) -> None:
    # only the package's files: its FastAPI subclass would replace our headers and CSP with its own pages
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get(DOCS, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title}: API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url="/ui/icon.svg",
        )
        html = page.body.decode()
        return HTMLResponse(html, headers={"Content-Security-Policy": docs_csp(html)})
