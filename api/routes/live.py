"""GET /v1/live: a telephony system streams one call's audio as it happens (protocol: docs/LIVE.md).

This process decodes G.711 to int16 (a table lookup), appends each frame to Redis exactly once
(`pipeline.service.live.wire`), acknowledges it, and forwards what the live workers publish for the call (turns,
tickets, the final state) to the client. No model runs here: the workers transcribe.
"""

import asyncio
import contextlib
import json
import logging
from typing import Literal

import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI, WebSocket
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.websockets import WebSocketDisconnect, WebSocketState

from api.auth import key_holder
from api.deps import services_of
from api.errors import ApiError
from asr import g711
from models import CallConflictError, CallMeta, CallNotFoundError, MetadataError
from pipeline.meta import CALL_ID_PATTERN, aware, load_metadata_json, parse_meta
from pipeline.service.live import wire
from pipeline.service.repository import NewCall

logger = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

# Close codes (docs/LIVE.md): 1000 normal end; 4xxx mirror the HTTP status of the same meaning.
CLOSE_NORMAL = 1000
CLOSE_MALFORMED = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_IDLE = 4408
CLOSE_STATE = 4409
CLOSE_TOO_LARGE = 4413
CLOSE_THROTTLED = 4429
CLOSE_UNAVAILABLE = 4503
_AUTH_CLOSE = {401: CLOSE_UNAUTHORIZED, 403: CLOSE_FORBIDDEN, 429: CLOSE_THROTTLED}

SEQ_BYTES = 4
ROLE_NAMES = {"operator": "agent", "agent": "agent", "caller": "caller"}
"""The wire's channel roles ("operator" as the hotline says it; "agent" as the push form does) → the call's."""
EVENTS_BLOCK_MS = 1000


class FormatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: Literal["pcm16", "mulaw", "alaw"]
    sample_rate: Literal[8000, 16000]
    channels: Literal[1, 2]
    channel_map: dict[str, Literal["operator", "agent", "caller"]] = Field(default_factory=dict, max_length=2)

    @field_validator("channel_map")
    @classmethod
    def _channels(cls, value: dict[str, str]) -> dict[str, str]:
        if any(channel not in ("0", "1") for channel in value):
            raise ValueError('channel_map maps "0" and "1" to a role')
        return value


class StartIn(BaseModel):
    """The first text frame: a new call (meta, format) or a resumed one (resume: true)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["start"]
    call_id: str = Field(pattern=CALL_ID_PATTERN)
    resume: bool = False
    meta: dict = Field(default_factory=dict)
    format: FormatIn | None = None


class Refused(Exception):
    """Ends a connection with an error frame and a close code."""

    def __init__(self, close_code: int, code: str, message: str):
        super().__init__(message)
        self.close_code, self.code, self.message = close_code, code, message


def live_redis(app: FastAPI) -> aioredis.Redis | None:
    """The app's Redis client for live calls, made on first use; None without HOTLINE_REDIS_URL."""
    client = getattr(app.state, "live_redis", None)
    if client is None:
        url = app.state.services.settings.redis_url
        if not url:
            return None
        client = app.state.live_redis = aioredis.Redis.from_url(url)
    return client


async def close_live_redis(app: FastAPI) -> None:
    client = getattr(app.state, "live_redis", None)
    if client is not None:
        app.state.live_redis = None
        await client.aclose()


@router.websocket("/v1/live")
async def live_call(websocket: WebSocket) -> None:
    await websocket.accept()
    session = _LiveSession(websocket)
    try:
        await session.run()
    except Refused as refused:
        await session.refuse(refused)
    except WebSocketDisconnect:
        pass  # the client went away; its call stays open for a resume until the worker finds it idle
    except Exception:
        logger.exception("live call %s: connection failed", session.call_id)
        await session.refuse(Refused(CLOSE_UNAVAILABLE, "unavailable", "live calls are unavailable; retry"))


class _LiveSession:
    """One connection: the start (or resume) frame, then frames in, acks and the workers' events out."""

    def __init__(self, websocket: WebSocket):
        self.websocket = websocket
        self.services = services_of(websocket)
        self.settings = self.services.settings.live
        self.call_id: str | None = None
        self.format: wire.AudioFormat | None = None
        self.ended = False
        self._send_lock = asyncio.Lock()

    async def run(self) -> None:
        try:
            principal = key_holder(self.websocket, "telephony")
        except ApiError as error:
            raise Refused(_AUTH_CLOSE.get(error.status, CLOSE_UNAUTHORIZED), error.code, error.message) from None
        redis = live_redis(self.websocket.app)
        if redis is None:
            raise Refused(CLOSE_UNAVAILABLE, "unavailable", "live calls need HOTLINE_REDIS_URL on the server")
        self.redis = redis
        self.append = redis.register_script(wire.APPEND)
        self.end = redis.register_script(wire.END)
        start = await self._first_frame()
        self.call_id = start.call_id
        if start.resume:
            acked = await self._resume(start, principal.key_id)
            await self.send({"type": "resumed", "call_id": start.call_id, "acked_seq": acked})
        else:
            await self._start(start, principal.key_id)
            await self.send({"type": "started", "call_id": start.call_id, "acked_seq": 0})
        logger.info("live call %s: %s", self.call_id, "resumed" if start.resume else "started")
        receiver = asyncio.create_task(self._receive())
        forwarder = asyncio.create_task(self._forward_events())
        done, pending = await asyncio.wait({receiver, forwarder}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()  # a Refused or a disconnect ends the connection as it says

    async def _first_frame(self) -> StartIn:
        try:
            message = await asyncio.wait_for(self.websocket.receive(), self.services.settings.server.header_timeout_s)
        except TimeoutError:
            raise Refused(CLOSE_IDLE, "timeout", "no start frame") from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            raise Refused(CLOSE_MALFORMED, "malformed", 'the first frame is a text frame {"type": "start", …}')
        try:
            data = load_metadata_json(text, "the start frame")
            return StartIn.model_validate(data)
        except MetadataError as error:
            raise Refused(CLOSE_MALFORMED, "malformed", str(error)) from None
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "start frame"
            raise Refused(CLOSE_MALFORMED, "malformed", f"{where}: {first['msg']}") from None

    async def _start(self, start: StartIn, key_id: int) -> None:
        if start.format is None:
            raise Refused(CLOSE_MALFORMED, "malformed", "a new call's start frame has a format")
        roles = {channel: ROLE_NAMES[role] for channel, role in start.format.channel_map.items()}
        if start.format.channels == 1 and roles:
            raise Refused(CLOSE_MALFORMED, "malformed", "a mono call has no channel_map: its voices tell the roles")
        if any(int(channel) >= start.format.channels for channel in roles):
            raise Refused(CLOSE_MALFORMED, "malformed", "channel_map names a channel the format does not have")
        fields = {**start.meta, "call_id": start.call_id, "channel_map": roles}  # the format's map is the call's
        try:
            meta = parse_meta(fields, start.call_id)
        except MetadataError as error:
            raise Refused(CLOSE_MALFORMED, "bad_metadata", str(error)) from None
        meta = CallMeta(**{**meta.__dict__, "started_at": aware(meta.started_at)})
        self.format = wire.AudioFormat(
            start.format.encoding, start.format.sample_rate, start.format.channels, dict(meta.channel_map)
        )
        new = NewCall(
            call_id=meta.call_id,
            caller_number=meta.caller_number,
            agent_id=meta.agent_id,
            started_at=meta.started_at,
            channel_map=dict(meta.channel_map),
            priority="live",
            content_type=None,
        )
        repository = self.services.repository
        try:
            await asyncio.to_thread(repository.register_live, new, key_id)
        except CallConflictError as error:
            raise Refused(CLOSE_STATE, "conflict", str(error)) from None
        keys = [wire.meta_key(meta.call_id), wire.CALLS]
        started = await self.redis.register_script(wire.START)(
            keys=keys, args=[meta.call_id, wire.meta_to_json(meta), self.format.to_json()]
        )
        if not started:
            raise Refused(CLOSE_STATE, "conflict", f"call {meta.call_id} has started already: resume it")

    async def _resume(self, start: StartIn, key_id: int) -> int:
        not_yours = Refused(CLOSE_STATE, "conflict", f"no live call {start.call_id} of this key to resume")
        try:
            call = await asyncio.to_thread(self.services.repository.get, start.call_id)
        except CallNotFoundError:
            raise not_yours from None
        if call.pushed_by != key_id:
            raise not_yours
        state, acked = await self.redis.register_script(wire.TOUCH)(keys=[wire.meta_key(start.call_id)])
        state = wire.as_text(state)
        if state not in ("open", "ended"):  # a hung-up call may be resumed to wait for its final event
            raise Refused(CLOSE_STATE, "call_ended", f"call {start.call_id} has ended; nothing more is taken")
        self.ended = state == "ended"
        self.format = wire.AudioFormat.from_json(await self.redis.hget(wire.meta_key(start.call_id), "format"))
        return int(acked)

    async def _receive(self) -> None:
        while True:
            # once the call has ended nothing more is due from the client: the connection waits for the final event
            idle = None if self.ended else self.settings.abandon_after_s
            try:
                message = await asyncio.wait_for(self.websocket.receive(), idle)
            except TimeoutError:
                raise Refused(CLOSE_IDLE, "idle", f"no frame for {self.settings.abandon_after_s:g} s") from None
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if message.get("bytes") is not None:
                await self._frame(message["bytes"])
            else:
                await self._control(message.get("text") or "")

    async def _frame(self, data: bytes) -> None:
        assert self.format is not None and self.call_id is not None
        if len(data) > self.settings.max_frame_bytes:
            raise Refused(
                CLOSE_TOO_LARGE, "frame_too_large", f"a frame is at most {self.settings.max_frame_bytes} bytes"
            )
        audio = data[SEQ_BYTES:]
        if len(data) <= SEQ_BYTES or len(audio) % self.format.frame_bytes:
            raise Refused(
                CLOSE_MALFORMED,
                "malformed",
                f"a binary frame is a 4-byte sequence number and whole samples of {self.format.frame_bytes} bytes",
            )
        seq = int.from_bytes(data[:SEQ_BYTES], "big")
        pcm = g711.decode(audio, self.format.encoding)
        samples = len(pcm) // self.format.channels
        max_samples = int(self.settings.max_call_s * self.format.sample_rate)
        keys = [wire.meta_key(self.call_id), wire.audio_key(self.call_id)]
        pace = [self.format.sample_rate, self.settings.max_lead_s]
        args = [seq, pcm.astype("<i2").tobytes(), samples, max_samples, *pace]
        while True:
            outcome, acked, *wait_ms = await self.append(keys=keys, args=args)
            outcome = wire.Appended(outcome)
            if outcome != wire.Appended.AHEAD:
                break
            # faster than real time past the lead: hold this frame (and, unread, the client's next ones) until the
            # call's clock catches up; the wait is at most about one frame's audio
            await asyncio.sleep(wait_ms[0] / 1000)
        if outcome in (wire.Appended.APPENDED, wire.Appended.DUPLICATE):
            await self.send({"type": "ack", "seq": seq})
        elif outcome == wire.Appended.OUT_OF_ORDER:
            raise Refused(CLOSE_STATE, "out_of_order", f"frame {seq} out of order: expected {acked + 1}")
        elif outcome == wire.Appended.TOO_LONG:
            await self.end(keys=keys, args=["abandoned", 0])
            raise Refused(CLOSE_TOO_LARGE, "call_too_long", f"a live call lasts at most {self.settings.max_call_s:g} s")
        else:
            raise Refused(CLOSE_STATE, "call_ended", f"call {self.call_id} has ended; nothing more is taken")

    async def _control(self, text: str) -> None:
        try:
            kind = json.loads(text).get("type") if len(text) <= 1024 else None
        except (ValueError, AttributeError):
            kind = None
        if kind != "end":
            raise Refused(CLOSE_MALFORMED, "malformed", 'after the start frame, text frames are {"type": "end"}')
        assert self.call_id is not None
        await self.end(keys=[wire.meta_key(self.call_id), wire.audio_key(self.call_id)], args=["hangup", 0])
        self.ended = True

    async def _forward_events(self) -> None:
        """The workers' events for this call, from the first (a resumed client gets them all again: it keeps
        turns by id), until the final one, after which the connection closes normally."""
        assert self.call_id is not None
        key, last = wire.events_key(self.call_id), "0-0"
        while True:
            found = await self.redis.xread({key: last}, block=EVENTS_BLOCK_MS, count=100)
            for _, entries in found:
                for entry_id, fields in entries:
                    last = entry_id
                    kind = wire.as_text(fields[b"type"])
                    at = float(fields[b"at"])
                    await self.send({"type": kind, "data": json.loads(fields[b"data"]), "at": at})
                    if kind == "final":
                        await self.close(CLOSE_NORMAL, "call finished")
                        return

    async def send(self, message: dict) -> None:
        async with self._send_lock:  # acks and events come from two tasks: one frame at a time
            if self.websocket.application_state == WebSocketState.CONNECTED:
                await self.websocket.send_text(json.dumps(message, ensure_ascii=False))

    async def close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            if self.websocket.application_state == WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await self.websocket.close(code, reason)

    async def refuse(self, refused: Refused) -> None:
        """An error frame, then the close code; what was appended before stays."""
        if self.call_id:
            logger.info("live call %s: refused (%s)", self.call_id, refused.code)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.send({"type": "error", "code": refused.code, "message": refused.message})
        await self.close(refused.close_code, refused.code)
