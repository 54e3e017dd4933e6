"""/v1/calls: push a recording, follow its processing, read transcript, audio and ticket, review, audit."""

import logging
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from api.auth import AuditKey, PushKey, ReadKey, ReviewKey, StatusKey
from api.deps import ServicesDep, services_of
from api.errors import ERRORS, ApiError
from api.limits import BodyRefused
from api.ranges import RangeNotSatisfiable, select_range
from api.schemas import (
    PRIORITIES,
    AuditIn,
    AuditOut,
    CallAccepted,
    CallError,
    CallLinks,
    CallPage,
    CallPushForm,
    CallStatus,
    ServiceCheckOut,
    TicketChangeOut,
    TicketOut,
    TicketPatch,
    WebhookAttemptOut,
    WebhookDeliveryOut,
)
from asr.audio import DecodeOptions, media_type, probe_audio
from extract.masking import mask_number
from models import CallTranscript
from pipeline.meta import (
    AGENT_ID_PATTERN,
    DAY_OR_MOMENT,
    CallMetaIn,
    DayOrMoment,
    aware,
    load_metadata_json,
    parse_meta,
    window_end,
    window_start,
)
from pipeline.service.keys import Principal
from pipeline.service.recordings import READ_CHUNK
from pipeline.service.repository import Call, CallQuery, NewCall

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/calls", tags=["calls"])

MAX_AUDITS_PER_CALL = 50
"""A call is audited once or twice in practice; the bound keeps GET …/audits (each audit up to 1 MB) bounded."""
MAX_CHANGES_SHOWN = 200
"""The ticket's answer carries its latest corrections only; the database keeps the whole trail."""
AUDIO_TYPES = ("audio/", "application/octet-stream", "video/")


@router.post(
    "",
    status_code=202,
    response_model=CallAccepted,
    responses=ERRORS,
    summary="Push a recorded call (multipart: `recording` file + metadata fields)",
    # generated from the form's model; the form is parsed here, not by FastAPI (see CallPushForm)
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": CallPushForm.model_json_schema()}},
        }
    },
)
async def push_call(request: Request, principal: PushKey, services: ServicesDep) -> JSONResponse:
    """The recording is stored (checksummed) and the job committed before 202 is returned. The same call id
    with the same recording again is the same call (202, created false); with another recording, 409."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data with a 'recording' file part")
    try:
        form = await request.form(max_files=1, max_fields=20)
    except BodyRefused:
        raise  # answered 413 or 408 by the middleware
    except Exception as error:  # malformed multipart body
        raise ApiError(400, "bad_request", f"malformed multipart body ({type(error).__name__})") from None
    try:
        recording = form.get("recording")
        if not isinstance(recording, UploadFile):
            raise ApiError(422, "invalid_request", "a 'recording' file part is required")
        part_type = (recording.content_type or "application/octet-stream").lower()
        if not part_type.startswith(AUDIO_TYPES):
            raise ApiError(415, "unsupported_media_type", f"the recording's content type {part_type!r} is not audio")
        meta, priority = _parse_fields(form)
        settings = services.settings
        await run_in_threadpool(recording.file.seek, 0)
        # the worker's own decode check; the type comes from the container found, not from the uploader
        decode = DecodeOptions(max_duration_s=settings.max_duration_s)
        info = await run_in_threadpool(probe_audio, recording.file, decode)
        await run_in_threadpool(recording.file.seek, 0)
        stored = await run_in_threadpool(services.store.put, recording.file, int(settings.max_upload_mb * 1_000_000))
    finally:
        await form.close()
    new = NewCall(
        call_id=meta.call_id,
        caller_number=meta.caller_number,
        agent_id=meta.agent_id,
        started_at=meta.started_at,
        channel_map=dict(meta.channel_map),
        priority=priority,
        content_type=info.media_type,
    )
    try:
        call, created = await run_in_threadpool(services.repository.register, new, stored, principal.key_id)
    except Exception:
        if not await run_in_threadpool(services.repository.recording_in_use, stored.key):
            await run_in_threadpool(services.store.delete, stored.key)
        raise
    if created:
        try:
            await run_in_threadpool(services.queue.enqueue, "transcribe", call.id, priority)
        except Exception:  # the job is in the database: the sweeper enqueues it when the broker is back
            logger.warning("could not enqueue call %s now; the sweeper will", call.id, exc_info=True)
    status_url = call_url(request, call.id)
    body = CallAccepted(call_id=call.id, status=call.status, created=created, status_url=status_url)
    return JSONResponse(body.model_dump(mode="json"), status_code=202, headers={"Location": status_url})


def _parse_fields(form) -> tuple:
    data: dict = {}
    if isinstance(form.get("metadata"), str):
        data = load_metadata_json(form["metadata"], "the 'metadata' field")
        if not isinstance(data, dict):
            raise ApiError(422, "bad_metadata", "the 'metadata' field must be a JSON object")
    for name in CallMetaIn.model_fields:  # each field of the metadata document may come as a form field too
        value = form.get(name)
        if isinstance(value, str) and value != "":
            data[name] = value
    if isinstance(data.get("channel_map"), str):
        data["channel_map"] = load_metadata_json(data["channel_map"], 'channel_map (JSON, e.g. {"0": "agent"})')
    if not data.get("call_id"):
        raise ApiError(422, "bad_metadata", "call_id is required")
    meta = parse_meta(data, default_call_id="")
    if meta.started_at is not None and meta.started_at.tzinfo is None:
        meta = type(meta)(**{**meta.__dict__, "started_at": aware(meta.started_at)})
    priority = form.get("priority") or data.get("priority") or "live"
    if priority not in PRIORITIES:
        raise ApiError(422, "bad_metadata", "priority is 'live' or 'backlog'")
    return meta, priority


@router.get("", response_model=CallPage, responses=ERRORS, summary="Search calls")
def search_calls(
    request: Request,
    principal: ReadKey,
    services: ServicesDep,
    q: Annotated[str | None, Query(max_length=200, description="text in the transcript, summary or department")] = None,
    since: Annotated[
        DayOrMoment | None,
        Query(description=f"started at or after (when received, if no start was pushed); {DAY_OR_MOMENT}"),
    ] = None,
    until: Annotated[
        DayOrMoment | None,
        Query(description=f"started up to: a date includes its whole day, a moment is excluded; {DAY_OR_MOMENT}"),
    ] = None,
    agent_id: Annotated[str | None, Query(pattern=AGENT_ID_PATTERN)] = None,
    department: Annotated[str | None, Query(max_length=128)] = None,
    status: Literal["live", "queued", "processing", "done", "failed"] | None = None,
    review: Literal["auto", "check", "manual"] | None = None,
    ticket_state: Literal["pending", "accepted"] | None = None,
    audited: Annotated[bool | None, Query(description="true: calls QA audited; false: not yet")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CallPage:
    query = CallQuery(
        text=q or None,
        since=window_start(since),
        until=window_end(until),
        agent_id=agent_id,
        department=department,
        status=status,
        review=review,
        ticket_state=ticket_state,
        audited=audited,
        limit=limit,
        offset=offset,
    )
    rows, total = services.repository.search(query, principal.scope)
    return CallPage(total=total, limit=limit, offset=offset, items=[call_status(request, row) for row in rows])


@router.get("/{call_id}", response_model=CallStatus, responses=ERRORS, summary="Status of a call")
def get_call(request: Request, call_id: str, principal: StatusKey, services: ServicesDep) -> CallStatus:
    return call_status(request, services.repository.visible(call_id, principal.scope), principal)


@router.get(
    "/{call_id}/transcript",
    responses={**ERRORS, 200: {"content": {"application/json": {}, "text/plain": {}}}},
    summary="Transcript as json, txt, srt, vtt or rttm",
)
def get_transcript(
    call_id: str,
    principal: ReadKey,
    services: ServicesDep,
    format: Literal["json", "txt", "srt", "vtt", "rttm"] = "json",
) -> Response:
    from pipeline.formats import render

    call = services.repository.visible(call_id, principal.scope)
    if call.transcript is None:
        raise ApiError(409, "not_ready", f"call {call_id} has no transcript yet (status {call.status})")
    if format == "json":
        return JSONResponse({**call.transcript, "ticket": call.ticket.to_dict() if call.ticket else None})
    transcript = CallTranscript.from_dict(call.transcript)
    text = render(transcript, "text" if format == "txt" else format)
    media = {"vtt": "text/vtt", "srt": "application/x-subrip"}.get(format, "text/plain")
    return PlainTextResponse(text, media_type=f"{media}; charset=utf-8")


@router.get(
    "/{call_id}/audio",
    responses={**ERRORS, 200: {"content": {"audio/*": {}}}, 206: {"content": {"audio/*": {}}}},
    summary="The recording, with HTTP Range for playback",
)
def get_audio(request: Request, call_id: str, principal: ReadKey, services: ServicesDep) -> Response:
    call = services.repository.visible(call_id, principal.scope)
    if call.status == "live":
        raise ApiError(409, "not_ready", f"call {call_id} is in progress: its recording is stored when it ends")
    if call.audio_deleted_at is not None:
        raise ApiError(410, "audio_deleted", "the recording was deleted by the retention policy")
    # Every answer streams from the store in READ_CHUNK pieces, a range as much as the whole file (api.ranges).
    size = services.store.size(call.recording_key)
    etag = f'"{call.recording_key}"'
    # no-store: a citizen's voice is not kept in the cache of a shared workstation's browser
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store", "ETag": etag}
    try:
        part = select_range(request.headers.get("range"), request.headers.get("if-range"), etag, size)
    except RangeNotSatisfiable as error:
        raise ApiError(416, "bad_range", str(error), {**headers, "Content-Range": f"bytes */{size}"}) from None
    if part is None:
        headers["Content-Length"] = str(size)
        stream = services.store.open(call.recording_key)
    else:
        headers.update({"Content-Range": part.content_range, "Content-Length": str(part.length)})
        stream = services.store.open_range(call.recording_key, part.start, part.end)
    status = 200 if part is None else 206
    return _RecordingResponse(stream, status, headers, media_type=media_type(call.content_type))


@router.get("/{call_id}/ticket", response_model=TicketOut, responses=ERRORS, summary="The pre-filled ticket")
def get_ticket(request: Request, call_id: str, principal: ReadKey) -> TicketOut:
    return _ticket_out(request, call_id, principal)


@router.patch("/{call_id}/ticket", response_model=TicketOut, responses=ERRORS, summary="Correct and/or accept")
def patch_ticket(
    request: Request, call_id: str, patch: TicketPatch, principal: ReviewKey, services: ServicesDep
) -> TicketOut:
    changes = patch.fields.model_dump(exclude_unset=True)  # a field sent as null clears it; one left out stays
    if patch.department is not None:
        changes["department"] = patch.department
    services.repository.visible(call_id, principal.scope)
    services.repository.update_ticket(call_id, principal.name, changes, patch.accept, services.recorder)
    return _ticket_out(request, call_id, principal)


@router.post("/{call_id}/audit", response_model=AuditOut, status_code=201, responses=ERRORS, summary="QA audit")
def post_audit(call_id: str, audit: AuditIn, principal: AuditKey, services: ServicesDep) -> AuditOut:
    repository = services.repository
    call = repository.visible(call_id, principal.scope)
    if len(repository.audits(call_id)) >= MAX_AUDITS_PER_CALL:
        raise ApiError(409, "too_many_audits", f"call {call_id} has {MAX_AUDITS_PER_CALL} audits already")
    turns = len((call.transcript or {}).get("turns", []))
    for mark in audit.marks:
        if mark.turn >= turns:
            raise ApiError(422, "invalid_request", f"mark on turn {mark.turn}, but the transcript has {turns} turns")
    row = repository.add_audit(
        call_id,
        principal.name,
        audit.score,
        audit.rubric,
        audit.checks,
        [mark.model_dump() for mark in audit.marks],
        audit.comment,
    )
    return AuditOut.model_validate(row, from_attributes=True)


@router.get(
    "/{call_id}/checks",
    response_model=dict[str, ServiceCheckOut],
    responses=ERRORS,
    summary="Automatic service checks (greeting, number and request read back, closing, forbidden words)",
)
def get_checks(call_id: str, principal: ReadKey, services: ServicesDep) -> dict[str, ServiceCheckOut]:
    from extract.service_checks import service_checks  # on first use: the API starts without extract's text tools

    call = services.repository.visible(call_id, principal.scope)
    if call.transcript is None:
        raise ApiError(409, "not_ready", f"call {call_id} has no transcript yet (status {call.status})")
    checks = service_checks(CallTranscript.from_dict(call.transcript))
    return {name: ServiceCheckOut(**check.to_dict()) for name, check in checks.items()}


@router.get("/{call_id}/audits", response_model=list[AuditOut], responses=ERRORS, summary="QA audits of a call")
def get_audits(call_id: str, principal: AuditKey, services: ServicesDep) -> list[AuditOut]:
    repository = services.repository
    repository.visible(call_id, principal.scope)
    return [AuditOut.model_validate(row, from_attributes=True) for row in repository.audits(call_id)]


@router.get(
    "/{call_id}/webhooks",
    response_model=list[WebhookDeliveryOut],
    responses=ERRORS,
    summary="Webhook deliveries of a call and every attempt (telephony client, admin)",
)
def get_webhooks(call_id: str, principal: PushKey, services: ServicesDep) -> list[WebhookDeliveryOut]:
    repository = services.repository
    repository.visible(call_id, principal.scope)
    # a telephony client sees its own deliveries only (another client's URL is none of its business)
    own = principal.role != "admin"
    return [
        WebhookDeliveryOut(
            id=delivery.id,
            event=delivery.event,
            url=delivery.url,
            state=delivery.state,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
            log=[WebhookAttemptOut.model_validate(attempt, from_attributes=True) for attempt in attempts],
        )
        for delivery, attempts in repository.webhook_log(call_id)
        if not own or delivery.key_id == principal.key_id
    ]


class _RecordingResponse(StreamingResponse):
    """A recording streamed from the store, its file (or S3 body) closed however the response ends: played to
    the end, the client gone, or cut off for reading nothing (api.limits.SendGuard)."""

    def __init__(self, stream, status: int, headers: dict[str, str], media_type: str):
        self.stream = stream
        super().__init__(_chunks(stream), status, headers, media_type=media_type)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stream.close()


def _chunks(stream) -> Iterator[bytes]:
    """A recording (or a range of it) in 256 KiB pieces, so playback of a long call does not load it into memory."""
    with stream:
        while chunk := stream.read(READ_CHUNK):
            yield chunk


def _ticket_out(request: Request, call_id: str, principal: Principal) -> TicketOut:
    repository = services_of(request).repository
    call = repository.visible(call_id, principal.scope)
    if call.ticket is None:
        raise ApiError(409, "not_ready", f"call {call_id} has no ticket yet (status {call.status})")
    changes = [
        TicketChangeOut(actor=c.actor, at=c.at, action=c.action, changes=c.changes)
        for c in repository.ticket_changes(call_id)[-MAX_CHANGES_SHOWN:]
    ]
    return TicketOut(
        call_id=call.id,
        ticket=call.ticket,
        machine_ticket=call.machine_ticket,
        department=call.department,
        state=call.ticket_state,
        accepted_by=call.accepted_by,
        accepted_at=call.accepted_at,
        changes=changes,
    )


def call_url(request: Request, call_id: str) -> str:
    """The call's URL under the deployment's public address (HOTLINE_PUBLIC_URL), never the request's Host header,
    which any client can set: links and Location headers then point where the deployment says."""
    return services_of(request).settings.public_url.rstrip("/") + request.app.url_path_for("get_call", call_id=call_id)


def call_status(request: Request, call: Call, principal: Principal | None = None) -> CallStatus:
    """A call's status; QA's score of the operator is for the hotline's own people, not a telephony client."""
    base = call_url(request, call.id)
    staff = principal is None or principal.role != "telephony"
    error = CallError(kind=call.error_kind, message=call.error) if call.status == "failed" else None
    return CallStatus(
        call_id=call.id,
        status=call.status,
        priority=call.priority,
        stage=call.stage,
        progress=call.progress or {},
        attempts=call.attempts,
        agent_id=call.agent_id,
        caller_number_masked=mask_number(call.caller_number),
        started_at=call.started_at,
        created_at=call.created_at,
        finished_at=call.finished_at,
        audio_duration_s=call.audio_duration_s,
        timings=call.timings or {},
        error=error,
        review=call.review,
        department=call.department,
        ticket_state=call.ticket_state,
        audio_available=call.audio_deleted_at is None and call.status != "live",
        audit_score=call.audit_score if staff else None,
        audited_at=call.audited_at if staff else None,
        links=CallLinks(self=base, transcript=f"{base}/transcript", ticket=f"{base}/ticket", audio=f"{base}/audio"),
    )
