"""The operator and QA pages (api/web/): static files on the same origin as the API, no CDN. They log in
with an API key (POST /v1/session sets an HttpOnly cookie) and call the same /v1 endpoints as any client."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).with_name("web")


def install(app: FastAPI) -> None:
    """The pages under /ui/ (their Content-Security-Policy is in api.headers)."""
    app.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")
