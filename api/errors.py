"""Every error the API returns is JSON: {"error": {"code": ..., "message": ...}} with a 4xx/5xx status.
The project's exceptions become HTTP errors here and nowhere else."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.headers import security_headers
from api.schemas import ErrorResponse
from models import (
    AudioDecodeError,
    AudioTooLongError,
    CallConflictError,
    CallNotFoundError,
    MetadataError,
    RecordingNotFoundError,
    RecordingTooLargeError,
    StorageError,
)

logger = logging.getLogger(__name__)


ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 410, 413, 415, 416, 422, 429)}
"""The error responses the routes document in OpenAPI (all in the one JSON shape below)."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


_MAPPED = (
    (AudioDecodeError, 422, "bad_audio"),
    (AudioTooLongError, 413, "audio_too_long"),
    (RecordingTooLargeError, 413, "too_large"),
    (MetadataError, 422, "bad_metadata"),
    (CallNotFoundError, 404, "not_found"),
    (RecordingNotFoundError, 410, "audio_deleted"),
    (CallConflictError, 409, "conflict"),
    (StorageError, 503, "storage_unavailable"),
)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError):
        return error_response(error.status, error.code, error.message, error.headers)

    for kind, status, code in _MAPPED:

        async def _mapped(_request: Request, error: Exception, status=status, code=code):
            return error_response(status, code, str(error))

        app.add_exception_handler(kind, _mapped)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
        message = f"{where or 'request'}: {first.get('msg', 'invalid')}"
        return error_response(422, "invalid_request", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception):
        logger.exception("unhandled error")
        # Starlette answers this one outside every middleware: the security headers are added here
        headers = security_headers(request.url.path)
        return error_response(500, "internal_error", "internal error; the request was not completed", headers)
