"""GET /v1/calls/{call_id}/live: a live call's results as Server-Sent Events, for the operator page.

The events are the ones the live workers publish to `hotline:live:{call_id}:events` (`pipeline.service.live.wire`):
`turn`, `ticket`, `final` and `refined`, each sent as the SSE event of that name with the worker's JSON as its data
and the Redis entry id as its SSE id. A browser that reconnects sends that id back in `Last-Event-ID`, and the stream
goes on after it (XREAD from that id): nothing is sent twice to the same page, nothing is skipped. The stream ends
after `final`, or, when the final event says `refining` (the full-call pass runs after hang-up), after `refined`. A
call that is not live (done, failed, or pushed as a recording) answers a new stream with one `final` event of its
status, so the page shows it as a batch call. Comments keep idle connections (and proxies) open between turns.
"""

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from api.auth import StatusKey
from api.deps import ServicesDep
from api.errors import ERRORS, ApiError
from api.routes.live import live_redis
from models import CallNotFoundError
from pipeline.service.keys import Principal
from pipeline.service.live import wire

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/calls", tags=["live"])

LIVE_STATUS = "live"
BLOCK_MS = 1000
"""How long one XREAD waits for an event."""
KEEPALIVE_S = 15.0
"""A comment line after this long without an event; the call's status is looked at again then, so a call that
ended without a `final` event (its streams expired) still ends the stream."""
REFINE_WAIT_S = 600.0
"""After a `final` that announces the full-call pass (`refining`), the stream waits this long for its `refined`."""
RETRY_MS = 2000
"""How long a browser waits before it reconnects a dropped stream."""
ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
ENTRY_PART_MAX = 2**64 - 1
"""Each part of a Redis stream id is an unsigned 64-bit number: 20 digits may pass it, and XREAD then fails after
the 200 is sent (a broken stream the browser reconnects to with the same id, again and again)."""


def is_entry_id(value: str) -> bool:
    return bool(ENTRY_ID.match(value)) and all(int(part) <= ENTRY_PART_MAX for part in value.split("-"))


@router.get(
    "/{call_id}/live",
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "turn, ticket and final events"}},
    response_class=StreamingResponse,
    summary="A live call's turns and tickets as they come (Server-Sent Events)",
)
async def live_events(
    request: Request,
    call_id: str,
    principal: StatusKey,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    if last_event_id is not None and not is_entry_id(last_event_id):
        raise ApiError(
            400, "bad_request", "Last-Event-ID is the id of an event this stream sent (like 1733000000000-0)"
        )
    call = await asyncio.to_thread(services.repository.visible, call_id, principal.scope)
    redis = live_redis(request.app)
    if call.status != LIVE_STATUS and (last_event_id is None or redis is None):
        events = _once(_final_of(call_id, call.status))
    elif redis is None:
        raise ApiError(503, "unavailable", "live calls need HOTLINE_REDIS_URL on the server")
    else:  # live, or a reconnect after the final event: the rest of its stream (the `refined` event)
        events = _follow(redis, services, principal, call_id, last_event_id or "0-0")
    return StreamingResponse(events, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


def _final_of(call_id: str, status: str) -> bytes:
    return event("final", json.dumps({"status": status, "call_id": call_id}))


async def _once(message: bytes) -> AsyncIterator[bytes]:
    yield message


async def _follow(redis, services, principal: Principal, call_id: str, last: str) -> AsyncIterator[bytes]:
    """The call's events after `last`, until `final`; a keep-alive comment when there is none for a while."""
    key = wire.events_key(call_id)
    yield f"retry: {RETRY_MS}\n\n".encode()
    quiet_s, refining = 0.0, 0.0  # refining: when a final event announced the full-call pass
    while True:
        found = await redis.xread({key: last}, block=BLOCK_MS, count=100)
        if not found:
            quiet_s += BLOCK_MS / 1000
            if quiet_s >= KEEPALIVE_S:
                quiet_s = 0.0
                yield b": keep-alive\n\n"
                status = await _status(services, principal, call_id)
                if status != LIVE_STATUS and not refining:
                    yield _final_of(call_id, status)
                    return
                if refining and time.monotonic() - refining > REFINE_WAIT_S:
                    return  # no worker finished the full-call pass: the page keeps the final ticket it has
            continue
        quiet_s = 0.0
        for _, entries in found:
            for entry_id, fields in entries:
                last = wire.as_text(entry_id)
                kind, data = wire.as_text(fields[b"type"]), wire.as_text(fields[b"data"])
                yield event(kind, data, last)
                if kind == "final":
                    refining = time.monotonic()
                if kind == "refined" or (kind == "final" and not json.loads(data).get("refining")):
                    return


async def _status(services, principal: Principal, call_id: str) -> str:
    try:
        call = await asyncio.to_thread(services.repository.visible, call_id, principal.scope)
    except CallNotFoundError:  # deleted (retention) while followed
        return "deleted"
    return call.status


def event(kind: str, data: str, entry_id: str | None = None) -> bytes:
    """One SSE message; each line of `data` gets its own `data:` field, as the format requires."""
    lines = [f"event: {kind}"]
    if entry_id:
        lines.append(f"id: {entry_id}")
    lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()
