"""A telephony client of the live protocol (docs/LIVE.md), behind `hotline live-push`: it plays a call's audio into
`GET /v1/live` frame by frame at the pace of the call, resumes after a dropped connection from the last
acknowledged frame, and hands every event the server sends (turns, tickets, the final state) to a callback.
"""

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.sync.client import ClientConnection, connect

from asr import g711
from models import CallMeta
from pipeline.service.live.wire import AudioFormat

logger = logging.getLogger(__name__)

RECONNECTS = 5
"""Tries to resume after a dropped connection before giving up."""
IN_FLIGHT_S = 2.0
"""Audio sent and not yet acknowledged, at most. The server takes audio at real time once it is far enough ahead
(HOTLINE_LIVE__MAX_LEAD_S) and reads nothing while it waits: a client that sent on would queue megabytes in the
sockets, and its keep-alive pings behind them, until the ping timed out and dropped the connection."""


class LivePushError(Exception):
    """The server refused the call (its error frame's code and message), or could not be reached."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass
class PushResult:
    final: dict
    frames: int
    reconnects: int


def frames_of(samples: np.ndarray, fmt: AudioFormat, frame_ms: int) -> Iterator[bytes]:
    """`samples` (int16, (n,) or (n, channels)) cut into frames of `frame_ms`, encoded as `fmt` says."""
    samples = samples.reshape(len(samples), -1)
    step = fmt.sample_rate * frame_ms // 1000
    for start in range(0, len(samples), step):
        yield g711.encode(samples[start : start + step], fmt.encoding)


class LivePush:
    """One call pushed live. `on_event` gets each event ({type, data}) from a reader thread."""

    def __init__(
        self,
        url: str,
        key: str,
        meta: CallMeta,
        fmt: AudioFormat,
        on_event: Callable[[dict], None] = lambda event: None,
        *,
        open_timeout: float = 10.0,
        final_timeout: float = 120.0,
    ):
        self.url, self.key, self.meta, self.format = url, key, meta, fmt
        self.on_event = on_event
        self.open_timeout, self.final_timeout = open_timeout, final_timeout
        self._final: dict | None = None
        self._error: LivePushError | None = None
        self._acked = 0
        self._done = threading.Event()
        self._reader: threading.Thread | None = None
        self._connections = contextlib.ExitStack()  # every connection opened, closed when the call is over

    def play(self, frames: Iterator[bytes], frame_s: float, speed: float = 1.0) -> PushResult:
        """Send every frame at real time × `speed` (0: at once), then the end frame; the final event's data once the
        call is finished. LivePushError on a refusal or a connection that cannot be resumed."""
        with self._connections:
            sent: dict[int, bytes] = {}  # frames not yet acknowledged, oldest first, for a resume
            reconnects = 0
            connection = self._open(resume=False)
            started = time.monotonic()
            seq = 0
            for seq, frame in enumerate(frames, start=1):
                sent[seq] = frame
                while (oldest := next(iter(sent))) <= self._acked:
                    del sent[oldest]
                if speed > 0:
                    time.sleep(max(0.0, started + (seq - 1) * frame_s / speed - time.monotonic()))
                window = max(1, round(IN_FLIGHT_S / frame_s))
                while seq - self._acked > window and self._reader is not None and self._reader.is_alive():
                    time.sleep(min(frame_s, 0.02))
                try:
                    connection.send(seq.to_bytes(4, "big") + frame)
                except ConnectionClosed:
                    connection, reconnects = self._resume(sent, reconnects)
            connection, reconnects = self._end(connection, sent, reconnects)
            deadline = time.monotonic() + self.final_timeout
            while not self._done.wait(0.2):
                if time.monotonic() > deadline:
                    raise LivePushError("timeout", f"no final result within {self.final_timeout:g} s of the end frame")
                if self._reader is not None and not self._reader.is_alive():  # dropped before the final event
                    connection, reconnects = self._resume(sent, reconnects)
                    connection, reconnects = self._end(connection, sent, reconnects)
        if self._error is not None:
            raise self._error
        return PushResult(self._final or {}, seq, reconnects)

    def _end(
        self, connection: ClientConnection, sent: dict[int, bytes], reconnects: int
    ) -> tuple[ClientConnection, int]:
        """The end frame (again after a resume: the server takes it once)."""
        while True:
            try:
                connection.send(json.dumps({"type": "end"}))
                return connection, reconnects
            except ConnectionClosed:
                connection, reconnects = self._resume(sent, reconnects)

    def _open(self, resume: bool) -> ClientConnection:
        try:
            connection = self._connections.enter_context(
                connect(
                    self.url, additional_headers={"Authorization": f"Bearer {self.key}"}, open_timeout=self.open_timeout
                )
            )
        except (OSError, TimeoutError) as error:
            raise LivePushError("unreachable", f"cannot connect to {self.url} ({error})") from None
        start = {"type": "start", "call_id": self.meta.call_id}
        if resume:
            start["resume"] = True
        else:
            start["meta"] = {
                "caller_number": self.meta.caller_number,
                "agent_id": self.meta.agent_id,
                "started_at": self.meta.started_at.isoformat() if self.meta.started_at else None,
            }
            start["format"] = {
                "encoding": self.format.encoding,
                "sample_rate": self.format.sample_rate,
                "channels": self.format.channels,
                "channel_map": self.format.channel_map,
            }
        with contextlib.suppress(ConnectionClosed):  # refused before the start was read: the error frame says why
            connection.send(json.dumps(start))
        try:
            answer = json.loads(connection.recv(timeout=self.open_timeout))
        except TimeoutError:
            raise LivePushError("unreachable", "no answer to the start frame") from None
        except ConnectionClosed as closed:
            code = closed.rcvd.reason if closed.rcvd and closed.rcvd.reason else "closed"
            raise LivePushError(code, "the server closed the connection at the start frame") from None
        if answer.get("type") == "error":
            raise LivePushError(answer.get("code", "error"), answer.get("message", ""))
        self._acked = int(answer.get("acked_seq", 0))
        self._reader = threading.Thread(target=self._read, args=(connection,), name="live-push-reader", daemon=True)
        self._reader.start()
        return connection

    def _resume(self, sent: dict[int, bytes], reconnects: int) -> tuple[ClientConnection, int]:
        """A new connection resuming the call; the frames after the server's acked_seq are sent again."""
        if self._reader is not None:
            self._reader.join(self.open_timeout)  # the closed connection's last frames: an error frame says why
        if self._error is not None:
            raise self._error
        while True:
            reconnects += 1
            if reconnects > RECONNECTS:
                raise LivePushError("unreachable", f"connection lost {RECONNECTS} times; giving up")
            time.sleep(min(2.0, 0.2 * reconnects))
            try:
                connection = self._open(resume=True)
                for seq in sorted(sent):
                    if seq > self._acked:
                        connection.send(seq.to_bytes(4, "big") + sent[seq])
                logger.info("resumed call %s after frame %d", self.meta.call_id, self._acked)
                return connection, reconnects
            except ConnectionClosed:
                continue
            except LivePushError as error:
                if error.code != "unreachable":
                    raise

    def _read(self, connection: ClientConnection) -> None:
        try:
            for text in connection:
                event = json.loads(text)
                kind = event.get("type")
                if kind == "ack":
                    self._acked = max(self._acked, int(event["seq"]))
                elif kind == "error":
                    self._error = LivePushError(event.get("code", "error"), event.get("message", ""))
                    self._done.set()
                else:
                    self.on_event(event)
                    if kind == "final":
                        self._final = event.get("data") or {}
                        self._done.set()
        except ConnectionClosedOK:
            pass
        except ConnectionClosed:
            pass  # a dropped connection: the sender resumes
