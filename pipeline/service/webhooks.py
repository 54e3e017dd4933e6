"""Webhooks: tell the client's system that a call finished, with a signed JSON summary.

When a call reaches ``done`` or ``failed`` the service POSTs a small JSON summary (see `call_summary`)
to the client's webhook URL. The summary carries ids, status, review level, suggested department,
request type, timings and links back to the service: never the transcript or ticket fields, so no
phone numbers or ID numbers leave through this channel. The body also carries ``event`` and
``delivery_id``: everything a receiver acts on is inside the signed bytes.

Requests are signed as Standard Webhooks (https://www.standardwebhooks.com), so a receiver verifies them
with any of that project's libraries (Python: ``standardwebhooks``). Each request carries these headers::

    Content-Type: application/json
    webhook-id: <delivery id>              the same as the body's "delivery_id" (same on every retry); signed
    webhook-timestamp: <unix seconds>      when this attempt was signed
    webhook-signature: v1,<base64>[ v1,<base64>...]
    X-Hotline-Event: call.done | call.failed | ticket.linked | ticket.unlinked      the same as the body's "event"

Verifying a request (a receiver needs nothing from this project)::

    from standardwebhooks import Webhook, WebhookVerificationError

    summary = Webhook(secret).verify(raw_body, request_headers)  # raises WebhookVerificationError

or by hand:

1. Take the raw request body bytes, exactly as received (do not parse and re-serialise the JSON).
2. The key: a secret is ``whsec_`` + base64 of the key bytes. A secret issued before Standard Webhooks has
   no prefix; its key is the secret's UTF-8 bytes (give a library ``"whsec_" + base64(secret)``, or the
   bytes themselves: ``Webhook(secret.encode())``).
3. Compute ``base64(HMAC-SHA256(key, webhook-id + "." + webhook-timestamp + "." + body))``.
4. Accept when any ``v1,`` entry of the space-separated signature header equals it (compare in constant
   time). During a secret rotation the header carries one entry per active secret.
5. Reject when the timestamp is more than 5 minutes from the receiver's clock, so a captured request
   cannot be replayed later.
6. De-duplicate on ``webhook-id``: it is signed, so a replay under another id fails step 4. Remembering the
   ids of the last 10 minutes is enough (older requests fail step 5). Act on the body's ``event``.

The delivery id is how a receiver tells a retry (same id, new timestamp) from a new announcement.

Earlier releases signed with headers of their own; they are still sent beside the Standard Webhooks
headers for one release, so existing receivers keep verifying while they move, and are then removed
(`sign_legacy`, `verify_legacy`)::

    X-Hotline-Delivery: <delivery id>      not signed: de-duplicate on the body's "delivery_id"
    X-Hotline-Timestamp: <unix seconds>    the same as webhook-timestamp
    X-Hotline-Signature: v1=<hex>[,v1=<hex>...]    hex(HMAC-SHA256(secret as UTF-8, timestamp + "." + body))

A receiver answers 2xx to acknowledge. Network errors, timeouts, 5xx and 429 are retried with
exponential backoff (`WebhookOptions`); other answers, redirects included (they are never followed),
are final. Deliveries are at least once: a receiver may see the same delivery id more than once.

This module does one attempt at a time and keeps no state: the caller (the worker) stores the
`DeliveryAttempt` log and schedules retries with `retry_delay`.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets as random_secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from models import Ticket, top_department
from pipeline.settings import WebhookSettings

__all__ = [
    "EVENTS",
    "SECRET_PREFIX",
    "SIGNATURE_VERSION",
    "DeliveryAttempt",
    "WebhookOptions",
    "backoff_delay",
    "call_summary",
    "deliver",
    "encode_payload",
    "new_secret",
    "retry_delay",
    "sign",
    "sign_legacy",
    "signed_delivery_id",
    "validate_webhook_url",
    "verify",
    "verify_legacy",
]

logger = logging.getLogger(__name__)

EVENTS = ("call.done", "call.failed", "ticket.linked", "ticket.unlinked")
"""The events a webhook is sent for: one per final call status, and an operator linking a call to an earlier ticket
(并单) or taking the link back (body: event, delivery_id, call_id, ticket_id, source ("call" | "import"),
department (the unit the linked tickets share, or null), actor, at, links)."""

SECRET_PREFIX = "whsec_"
"""Marks a Standard Webhooks secret: the base64 of the key bytes follows."""

SIGNATURE_VERSION = "v1"
"""Prefix of each entry in X-Hotline-Signature (``v1=``); a new scheme would get a new prefix, sent side by side."""

# Enough of a receiver's answer to diagnose it; more would bloat the delivery log with whatever the
# receiver chose to put there. Reading stops after a few KiB so a huge error page costs nothing.
_MAX_ERROR_CHARS = 200
_MAX_BODY_READ_BYTES = 4096

_DEFAULTS = WebhookSettings()  # the settings' defaults (a plain model: building it reads no environment)


@dataclass(frozen=True)
class WebhookOptions:
    """How webhooks are sent and retried.

    timeout_s: limit for each network step of one attempt (connect, send, each read); a receiver
        should acknowledge at once and do its work afterwards, so 10 s is generous.
    max_attempts: attempts per delivery, the first included. With the backoff defaults below, 8
        attempts ride out up to about an hour of receiver downtime (the waits' ceilings add up to
        ~63 min, full jitter makes it ~32 min on average) before the delivery is given up.
    backoff_base_s: ceiling of the first retry's wait; doubles with each attempt.
    backoff_max_s: the ceiling never grows past this (1 h), so late retries still come hourly.

    The defaults are the settings' (`pipeline.settings.WebhookSettings`, HOTLINE_WEBHOOKS__*), kept there once.
    """

    timeout_s: float = _DEFAULTS.timeout_s
    max_attempts: int = _DEFAULTS.max_attempts
    backoff_base_s: float = _DEFAULTS.backoff_base_s
    backoff_max_s: float = _DEFAULTS.backoff_max_s


@dataclass(frozen=True)
class DeliveryAttempt:
    """The outcome of one POST, as kept in the delivery log.

    status_code is None when no answer came (network error, timeout). error is one line, None when
    delivered. retry says whether trying again could help: network errors, timeouts, 5xx and 429 yes;
    redirects and other 4xx no (the receiver or its URL must be fixed first); 2xx means delivered.
    """

    delivery_id: str
    url: str
    event: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_s: float
    delivered: bool
    retry: bool


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact, key-sorted JSON in UTF-8 (Chinese kept as is)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks format: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode("ascii")


def _signing_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks signature. Secrets issued before the ``whsec_`` format keep
    working: their key is their UTF-8 bytes, as in the legacy scheme."""
    if secret.startswith(SECRET_PREFIX):
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    else:
        key = secret.encode("utf-8")
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """One entry of the webhook-signature header:
    ``v1,<base64 hmac-sha256(key, f"{delivery_id}.{timestamp}.{body}")>`` (Standard Webhooks)."""
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    return Webhook(_signing_key(secret)).sign(delivery_id, signed_at, body.decode("utf-8"))


def _fresh(timestamp_header: str, now: float | None, tolerance_s: int) -> bool:
    """Whether a timestamp header is unix seconds within `tolerance_s` of `now` (default: the clock)."""
    if not timestamp_header.isascii() or not timestamp_header.isdigit():
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp_header)) <= tolerance_s


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = 300,
) -> bool:
    """Whether a request's Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature; any
    case) sign `body` with `secret` within `tolerance_s` of `now` (default: the clock).

    The signature header may list several space-separated ``v1,`` entries (secret rotation); one match is
    enough. Malformed headers or bodies give False, never an exception.
    """
    # Not `Webhook.verify`: it reads the system clock and raises on some malformed headers; this one takes a
    # clock and answers False, and compares against the library's own signature.
    lowered = {name.lower(): value for name, value in headers.items()}
    delivery_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "").strip()
    if not delivery_id or not _fresh(timestamp, now, tolerance_s):
        return False
    try:
        expected = sign(secret, delivery_id, int(timestamp), body).encode("ascii")
    except ValueError:  # a body that is not UTF-8, or a whsec_ secret that is not base64
        return False
    matched = False
    for entry in lowered.get("webhook-signature", "").split(" "):
        # compare_digest on str refuses non-ASCII; bytes keep a hostile header from raising.
        matched |= hmac.compare_digest(entry.encode("utf-8", "replace"), expected)
    return matched


def _legacy_digest(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_legacy(secret: str, timestamp: int, body: bytes) -> str:
    """The deprecated X-Hotline-Signature value for one secret:
    ``v1=<hex hmac-sha256(secret, f"{timestamp}.{body}")>``."""
    return f"{SIGNATURE_VERSION}={_legacy_digest(secret, str(int(timestamp)), body)}"


def verify_legacy(
    secret: str,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    *,
    delivery_id: str | None = None,
    now: float | None = None,
    tolerance_s: int = 300,
) -> bool:
    """Whether a request was signed with `secret` in the deprecated X-Hotline scheme within `tolerance_s` of
    `now` (default: the clock), and, when `delivery_id` is given (the X-Hotline-Delivery header), whether the
    signed body names that delivery.

    `signature_header` may list several comma-separated ``v1=`` entries (secret rotation); one
    match is enough. Malformed headers or bodies give False, never an exception.
    """
    timestamp_header = timestamp_header.strip()
    if not _fresh(timestamp_header, now, tolerance_s):
        return False
    expected = _legacy_digest(secret, timestamp_header, body).encode("ascii")
    prefix = f"{SIGNATURE_VERSION}="
    matched = False
    for entry in signature_header.split(","):
        entry = entry.strip()
        if entry.startswith(prefix):
            # compare_digest on str refuses non-ASCII; bytes keep a hostile header from raising.
            candidate = entry[len(prefix) :].encode("utf-8", "replace")
            matched |= hmac.compare_digest(candidate, expected)
    if not matched or delivery_id is None:
        return matched
    return signed_delivery_id(body) == delivery_id


def signed_delivery_id(body: bytes) -> str | None:
    """The ``delivery_id`` inside a webhook body (the key to de-duplicate on once the body is verified);
    None when the body has none."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = data.get("delivery_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def backoff_delay(
    attempt: int, options: WebhookOptions, *, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based) before the next one.

    Exponential with full jitter: uniform in [0, min(backoff_max_s, backoff_base_s * 2**(attempt-1))].
    Jitter spreads the retries of many deliveries that failed together (a receiver outage) so they
    do not all come back at the same second. Pass e.g. ``random.Random(seed).uniform`` for repeatable
    delays.
    """
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    # Past 2**62 the ceiling is long capped; bounding the exponent avoids huge ints and float overflow.
    ceiling = min(options.backoff_max_s, options.backoff_base_s * 2 ** min(attempt - 1, 62))
    return uniform(0.0, ceiling)


def retry_delay(
    result: DeliveryAttempt,
    options: WebhookOptions,
    *,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float | None:
    """Seconds until the next attempt of this delivery, or None when it is delivered or given up."""
    if result.delivered or not result.retry or result.attempt >= options.max_attempts:
        return None
    return backoff_delay(result.attempt, options, uniform=uniform)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    if len(line) > _MAX_ERROR_CHARS:
        line = line[: _MAX_ERROR_CHARS - 1] + "…"
    return line


def _read_snippet(response: httpx.Response) -> str:
    """The start of the answer's body, for the error message; failures to read it are not the delivery's."""
    chunks = bytearray()
    try:
        for chunk in response.iter_bytes():
            chunks += chunk
            if len(chunks) >= _MAX_BODY_READ_BYTES:
                break
    except httpx.HTTPError:
        pass
    return bytes(chunks[:_MAX_BODY_READ_BYTES]).decode("utf-8", "replace")


def _host(url: str) -> str:
    # Only the host is logged: paths and query strings of webhook URLs often carry tokens.
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def deliver(
    url: str,
    secret: str | Sequence[str],
    event: str,
    payload: dict[str, Any],
    delivery_id: str,
    attempt: int,
    *,
    client: httpx.Client,
    options: WebhookOptions,
    now: Callable[[], float] = time.time,
) -> DeliveryAttempt:
    """POST `payload` once to `url`, signed with `secret`, and report how it went.

    The body sent is `payload` with ``event`` and ``delivery_id`` set, so both are signed. `secret` may be
    several secrets during a rotation (new first); each signature header then carries
    one entry per secret. Network and HTTP failures are returned, not raised; redirects are not
    followed. Call `validate_webhook_url` before each delivery, not only when the URL is registered:
    a host name can start resolving to a private address later.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}; expected one of {', '.join(EVENTS)}")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("at least one webhook secret is needed")
    if payload.get("event", event) != event:
        raise ValueError(f"the payload is for {payload['event']!r}, not {event!r}")
    body = encode_payload({**payload, "event": event, "delivery_id": delivery_id})
    timestamp = int(now())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, delivery_id, timestamp, body) for s in secrets),
        "X-Hotline-Event": event,
        # the scheme before Standard Webhooks, sent beside it for one release so receivers can move
        "X-Hotline-Delivery": delivery_id,
        "X-Hotline-Timestamp": str(timestamp),
        "X-Hotline-Signature": ",".join(sign_legacy(s, timestamp, body) for s in secrets),
    }
    host = _host(url)
    status_code: int | None = None
    started = time.monotonic()
    try:
        with client.stream(
            "POST", url, content=body, headers=headers, timeout=options.timeout_s, follow_redirects=False
        ) as response:
            status_code = response.status_code
            snippet = "" if response.is_success else _read_snippet(response)
    except httpx.TimeoutException as exc:
        error, retry = f"timed out after {options.timeout_s:g} s ({type(exc).__name__})", True
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        error, retry = _one_line(f"invalid webhook URL: {exc}"), False
    except httpx.HTTPError as exc:
        error, retry = _one_line(f"{type(exc).__name__}: {exc}"), True
    else:
        if response.is_success:
            error, retry = None, False
        elif response.is_redirect:
            error, retry = f"HTTP {status_code}: redirect not followed", False
        else:
            error = _one_line(f"HTTP {status_code}: {snippet}" if snippet.strip() else f"HTTP {status_code}")
            retry = status_code >= 500 or status_code == 429
    duration = time.monotonic() - started
    delivered = error is None
    if delivered:
        logger.info(
            "webhook %s %s delivered to %s (attempt %d, HTTP %s, %.2f s)",
            event,
            delivery_id,
            host,
            attempt,
            status_code,
            duration,
        )
    else:
        logger.warning(
            "webhook %s %s to %s failed (attempt %d, HTTP %s, retry %s): %s",
            event,
            delivery_id,
            host,
            attempt,
            status_code,
            retry,
            error,
        )
    return DeliveryAttempt(
        delivery_id=delivery_id,
        url=url,
        event=event,
        attempt=attempt,
        status_code=status_code,
        error=error,
        duration_s=duration,
        delivered=delivered,
        retry=retry,
    )


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: a NAT64 gateway forwards it to the embedded IPv4


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that reach an IPv4 address: ::ffff:a.b.c.d (mapped; Python 3.11 does not look through it),
        # 2002:aabb:ccdd:: (6to4), 64:ff9b::a.b.c.d (NAT64), Teredo; each must be public as that IPv4 address
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            return _is_public(embedded)
    # is_global also rules out shared (100.64/10), reserved and documentation ranges, not only RFC 1918.
    return address.is_global and not address.is_multicast


def validate_webhook_url(url: str, *, allow_private: bool) -> str:
    """`url` if it is fit to receive webhooks, else ValueError with a one-line reason.

    It must be http(s) with a host and no user name or password. Unless `allow_private` (for
    on-premises receivers and tests), every address the host resolves to must be public: no loopback,
    private, link-local (cloud metadata), multicast or reserved address, so a client cannot make the
    service probe its own network. Host names are resolved with the system resolver.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"webhook URL is malformed: {_one_line(str(exc))}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"webhook URL must use http or https, not {parts.scheme or 'no scheme'!r}")
    host = parts.hostname
    if not host:
        raise ValueError("webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("webhook URL must not contain a user name or password; the signature authenticates")
    if allow_private:
        return url
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise ValueError(f"webhook host {host!r} does not resolve: {_one_line(str(exc))}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not _is_public(address):
            raise ValueError(f"webhook host {host!r} resolves to non-public address {address}")
    return url


def _request_type(ticket: Ticket) -> str | None:
    field = ticket.fields.get("request_type")
    return field.value if field is not None else None


def call_summary(
    call_id: str,
    status: str,
    *,
    ticket: Ticket | None,
    error: str | None,
    timings: dict[str, Any] | None,
    links: dict[str, Any],
    error_kind: str | None = None,
) -> dict[str, Any]:
    """The webhook payload for a finished call (`status` "done" or "failed").

    `ticket` is the call's ticket or None. Of its fields only request_type is copied: the others may
    hold the caller's phone number, ID number or address, which the client fetches through the API.
    Keys: event, call_id, status, error ({kind, message} as in the API's call status, or None), review,
    department, request_type, timings, links.
    """
    event = f"call.{status}"
    if event not in ("call.done", "call.failed"):
        raise ValueError(f"webhooks are sent for done or failed calls, not {status!r}")
    return {
        "event": event,
        "call_id": call_id,
        "status": status,
        "error": {"kind": error_kind, "message": error} if error is not None else None,
        "review": ticket.review if ticket else None,
        "department": top_department(ticket) if ticket else None,
        "request_type": _request_type(ticket) if ticket else None,
        "timings": dict(timings) if timings is not None else None,
        "links": dict(links),
    }
