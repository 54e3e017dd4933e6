"""`hotline serve`: uvicorn, with the bounds on slow clients that it lacks and its logs with numbers masked.

uvicorn 0.54 with h11 bounds the idle time between two requests on a connection (`timeout_keep_alive`) and the
size of a request head (h11's 16 KiB), not the time a client takes to send it: its keep-alive timer starts only
after a first response and stops at the next byte, so a connection that never sends a request line, or sends a
header byte now and then, is held for ever (slowloris); so is one that goes on sending a body nobody reads
(a request answered before its upload was read, say a 401). It has no option for either, so `TimedH11Protocol`
adds one timer per connection; how long a body may take while the app reads it is `api.limits.BodyGuard`'s.
"""

import contextlib
import copy
import logging
import sys

import h11
import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from pipeline.settings import Settings

__all__ = ["ServerConfig", "TimedH11Protocol", "log_config", "serve"]

LIFECYCLE_LOGGERS = ("hotline.requests", "hotline.calls", "pipeline.service.wiring")
STARTUP_FAILURE = 3  # uvicorn's exit status when the app cannot start

_TIMEOUT_BODY = b"request headers not received in time\n"
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\nx-content-type-options: nosniff\r\n\r\n%s"
) % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)


class ServerConfig(uvicorn.Config):
    """uvicorn's Config with the header timeout, which travels with it into each worker process."""

    def __init__(self, *args, header_timeout_s: float = 10.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus: a connection waiting for a request head (from when it opens, or from the
    first byte of the next request) gets `header_timeout_s` to complete it, and one still sending a body after
    its response was sent gets as long again; then it is closed (with a 408 when no request came)."""

    def __init__(self, config, server_state, app_state, _loop=None):
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout_s = getattr(config, "header_timeout_s", 10.0)
        self.waiting: object | None = None  # the timer while the client owes us something

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._watch(opened=True)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _watch(self, opened: bool = False) -> None:
        theirs, ours = self.conn.their_state, self.conn.our_state
        # an idle keep-alive connection (nothing received since the last response) is uvicorn's to time out
        head_pending = theirs is h11.IDLE and (opened or bool(self.conn.trailing_data[0]))
        unread_body = theirs is h11.SEND_BODY and ours in (h11.DONE, h11.MUST_CLOSE)
        if not (head_pending or unread_body):
            self._stop()
        elif self.waiting is None:  # a deadline, not an idle timer: trickling bytes does not extend it
            self.waiting = self.loop.call_later(self.header_timeout_s, self._expired)

    def _stop(self) -> None:
        if self.waiting is not None:
            self.waiting.cancel()
            self.waiting = None

    def _expired(self) -> None:
        self.waiting = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def log_config(level: int | str = logging.WARNING) -> dict:
    """uvicorn's logging configuration plus a handler for the app's own loggers (root, at `level`), with
    pipeline.logmask.MaskNumbers on every handler. A dict: uvicorn applies it again in each worker process."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"mask_numbers": {"()": "pipeline.logmask.MaskNumbers"}}
    config["formatters"]["plain"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    config["handlers"]["app"] = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    for handler in config["handlers"].values():
        handler["filters"] = ["mask_numbers"]
    config["root"] = {"handlers": ["app"], "level": logging.getLevelName(level) if isinstance(level, int) else level}
    # the request and call lifecycle lines (api.requestlog, pipeline.service.queues) and the model's preparation
    # at INFO, whatever the level
    for name in LIFECYCLE_LOGGERS:
        config["loggers"][name] = {"level": "INFO"}
    return config


def server_config(settings: Settings, host: str, port: int, workers: int = 1, **overrides) -> ServerConfig:
    """The uvicorn configuration `hotline serve` runs with; `overrides` are uvicorn.Config's arguments (a test
    serves an app object with log_config=None, leaving its own logging alone)."""
    limits = settings.server
    options = {
        "host": host,
        "port": port,
        "workers": workers,
        "http": TimedH11Protocol,
        "ws": "websockets-sansio",  # GET /v1/live (docs/LIVE.md)
        # uvicorn refuses a larger message itself (close 1009); smaller ones past the live frame limit get 4413
        "ws_max_size": max(1 << 20, 2 * settings.live.max_frame_bytes),
        "header_timeout_s": limits.header_timeout_s,
        "timeout_keep_alive": limits.keep_alive_s,
        "limit_concurrency": limits.limit_concurrency,
        # uvicorn trusts X-Forwarded-For from loopback by default: anyone on the host could then pick the client
        # address the login throttle counts (and lock others out); only the proxies a deployment names count
        "proxy_headers": bool(limits.trusted_proxies.strip()),
        "forwarded_allow_ips": limits.trusted_proxies.strip() or None,
        "log_level": "info",
        "access_log": False,
        **overrides,
    }
    if "log_config" not in options:
        options["log_config"] = log_config(logging.getLogger().getEffectiveLevel())
    return ServerConfig(options.pop("app", "api.main:app"), **options)


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Run the API until interrupted (what uvicorn.run does, with our configuration class)."""
    config = server_config(settings, host, port, workers)
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        if workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
            return
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
