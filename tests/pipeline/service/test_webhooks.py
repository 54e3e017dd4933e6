"""Webhooks against a real local HTTP receiver: signing as a receiver checks it, retry decisions per
answer, timeouts, refused connections, redirects, backoff, URL guard, and a payload free of personal data."""

import base64
import hashlib
import hmac
import json
import logging
import random
import re
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from models import DepartmentSuggestion, Ticket, TicketField
from pipeline.service.webhooks import (
    SECRET_PREFIX,
    DeliveryAttempt,
    WebhookOptions,
    backoff_delay,
    call_summary,
    deliver,
    new_secret,
    retry_delay,
    sign,
    validate_webhook_url,
    verify,
    verify_legacy,
)

SECRET = "whsec-test-秘密"
NOW = 1_750_000_000.7
PAYLOAD = {"event": "call.done", "call_id": "c-1", "status": "done", "note": "投诉 物业", "n": 1}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1. The path picks the answer: /status/<code>, /redirect, /slow."""

    base_url: str
    requests: list[Received] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close so a test leaves no thread behind.
    daemon_threads = False
    block_on_close = True

    def __init__(self, release: threading.Event, received: list[Received]):
        self.release = release
        self.received = received
        self.errors: list[BaseException] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address):
        # Kept for the fixture to report: the default prints to stderr, where a broken handler goes unseen.
        self.errors.append(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.received.append(Received(self.path, dict(self.headers.items()), body))
        if self.path == "/slow":
            self.server.release.wait(timeout=5)
            return
        if self.path == "/redirect":
            self._answer(302, b"", location="/status/200")
            return
        code = int(urlsplit(self.path).path.rsplit("/", 1)[-1])
        text = b"ok" if code < 300 else ("line of a long error page\n" * 50).encode()
        self._answer(code, text)

    def _answer(self, code: int, body: bytes, location: str | None = None):
        self.send_response(code)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    release = threading.Event()
    received: list[Received] = []
    server = _Server(release, received)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield Receiver(f"http://{host}:{port}", received)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert server.errors == []


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def _deliver(url: str, client: httpx.Client, *, secret=SECRET, timeout_s: float = 2, attempt: int = 1):
    return deliver(
        url,
        secret,
        "call.done",
        PAYLOAD,
        "dlv-1",
        attempt,
        client=client,
        options=WebhookOptions(timeout_s=timeout_s),
        now=lambda: NOW,
    )


def _expected_legacy_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The deprecated X-Hotline scheme, written out independently of the module under test."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _expected_signature(key: bytes, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks scheme, written out independently of the module under test."""
    mac = hmac.new(key, f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def _lowered(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_signatures_match_the_standard_webhooks_test_vector():
    # The published vector of the Standard Webhooks reference libraries: a receiver's library accepts ours.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330"}
    assert verify(secret, {**headers, "webhook-signature": expected}, body, now=1614265330)


def test_new_secrets_are_standard_webhooks_secrets_of_32_random_bytes():
    first, second = new_secret(), new_secret()

    assert first.startswith(SECRET_PREFIX) and second.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(first[len(SECRET_PREFIX) :], validate=True)) == 32
    assert first != second


def test_delivered_request_carries_documented_headers_and_signatures(receiver, client):
    result = _deliver(receiver.base_url + "/status/200", client)

    assert result == DeliveryAttempt(
        delivery_id="dlv-1",
        url=receiver.base_url + "/status/200",
        event="call.done",
        attempt=1,
        status_code=200,
        error=None,
        duration_s=result.duration_s,
        delivered=True,
        retry=False,
    )
    assert 0 <= result.duration_s < 2
    [request] = receiver.requests
    headers = _lowered(request.headers)
    timestamp = str(int(NOW))
    assert headers["content-type"] == "application/json"
    assert headers["x-hotline-event"] == "call.done"
    assert headers["webhook-id"] == "dlv-1"
    assert headers["webhook-timestamp"] == timestamp
    # a secret from before the whsec_ format signs with its UTF-8 bytes
    assert headers["webhook-signature"] == _expected_signature(SECRET.encode(), "dlv-1", timestamp, request.body)
    # the deprecated headers, sent beside the standard ones for one release
    assert headers["x-hotline-delivery"] == "dlv-1"
    assert headers["x-hotline-timestamp"] == timestamp
    assert headers["x-hotline-signature"] == _expected_legacy_signature(SECRET, timestamp, request.body)
    # The bytes on the wire are the documented serialisation, Chinese unescaped, the delivery id signed inside.
    sent = {**PAYLOAD, "delivery_id": "dlv-1"}
    assert request.body == json.dumps(sent, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    assert json.loads(request.body) == sent
    assert verify(SECRET, request.headers, request.body, now=NOW + 5)
    assert verify_legacy(SECRET, headers["x-hotline-timestamp"], headers["x-hotline-signature"], request.body, now=NOW)
    assert verify_legacy(
        SECRET,
        headers["x-hotline-timestamp"],
        headers["x-hotline-signature"],
        request.body,
        delivery_id="dlv-1",
        now=NOW,
    )


def test_the_reference_library_verifies_what_is_sent(receiver, client):
    """A receiver using the `standardwebhooks` package, as the module docstring shows it, accepts a delivery
    signed with a whsec_ secret and one signed with a secret from before that format."""
    fresh = new_secret()
    for secret in (fresh, SECRET):
        deliver(
            receiver.base_url + "/status/200",
            secret,
            "call.done",
            PAYLOAD,
            "dlv-2",
            1,
            client=client,
            options=WebhookOptions(timeout_s=2),
        )
    new_format, old_format = receiver.requests

    assert Webhook(fresh).verify(new_format.body, new_format.headers) == json.loads(new_format.body)
    assert Webhook(SECRET.encode()).verify(old_format.body, old_format.headers)["delivery_id"] == "dlv-2"
    as_whsec = SECRET_PREFIX + base64.b64encode(SECRET.encode()).decode()
    assert Webhook(as_whsec).verify(old_format.body, old_format.headers)["delivery_id"] == "dlv-2"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(new_format.body, new_format.headers)


@pytest.fixture
def signed(receiver, client) -> Received:
    _deliver(receiver.base_url + "/status/200", client)
    [request] = receiver.requests
    return Received(request.path, _lowered(request.headers), request.body)


def test_verify_rejects_tampered_body_or_id_wrong_secret_and_bad_timestamps(signed):
    headers, body = signed.headers, signed.body
    ts = int(headers["webhook-timestamp"])
    assert verify(SECRET, headers, body, now=ts + 300)
    assert verify(SECRET, headers, body, now=ts - 300)
    assert verify(SECRET, {k.upper(): v for k, v in headers.items()}, body, now=ts)
    assert not verify(SECRET, headers, body.replace(b'"n":1', b'"n":2'), now=ts)
    assert not verify(SECRET, headers, b"\xff" + body, now=ts)
    assert not verify("another-secret", headers, body, now=ts)
    assert not verify(new_secret(), headers, body, now=ts)
    assert not verify("whsec_not base64!", headers, body, now=ts)
    assert not verify("", headers, body, now=ts)
    assert not verify(SECRET, headers, body, now=ts + 301)
    assert not verify(SECRET, headers, body, now=ts - 301)
    assert not verify(SECRET, {**headers, "webhook-id": "dlv-forged"}, body, now=ts), "the id is signed"
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert not verify(SECRET, {k: v for k, v in headers.items() if k != name}, body, now=ts)
    for timestamp in (str(ts + 1), "", "1e9"):
        assert not verify(SECRET, {**headers, "webhook-timestamp": timestamp}, body, now=ts)
    signature = headers["webhook-signature"]
    for bad in (signature.replace("v1,", "v2,"), "v1,ünïcode", "", signature.replace(",", "=")):
        assert not verify(SECRET, {**headers, "webhook-signature": bad}, body, now=ts)


def test_verify_legacy_rejects_tampered_body_wrong_secret_and_bad_timestamps(signed):
    timestamp, signature = signed.headers["x-hotline-timestamp"], signed.headers["x-hotline-signature"]
    body = signed.body
    ts = int(timestamp)
    assert verify_legacy(SECRET, timestamp, signature, body, now=ts + 300)
    assert verify_legacy(SECRET, timestamp, signature, body, now=ts - 300)
    assert not verify_legacy(SECRET, timestamp, signature, body.replace(b'"n":1', b'"n":2'), now=ts)
    assert not verify_legacy("another-secret", timestamp, signature, body, now=ts)
    assert not verify_legacy(SECRET, timestamp, signature, body, now=ts + 301)
    assert not verify_legacy(SECRET, timestamp, signature, body, now=ts - 301)
    assert not verify_legacy(SECRET, str(ts + 1), signature, body, now=ts)
    assert not verify_legacy(SECRET, "", signature, body, now=ts)
    assert not verify_legacy(SECRET, "1e9", signature, body, now=ts)
    assert not verify_legacy(SECRET, timestamp, signature.replace("v1=", "v0="), body, now=ts)
    assert not verify_legacy(SECRET, timestamp, "v1=ünïcode", body, now=ts)
    assert not verify_legacy(SECRET, timestamp, "", body, now=ts)


def test_verify_accepts_any_of_several_signatures(signed):
    headers, body = signed.headers, signed.body
    timestamp, signature = headers["webhook-timestamp"], headers["webhook-signature"]
    other = _expected_signature(b"old-secret", "dlv-1", timestamp, body)
    for listed in (f"{other} {signature}", f"{signature} {other}"):
        assert verify(SECRET, {**headers, "webhook-signature": listed}, body, now=int(timestamp))
    assert not verify(SECRET, {**headers, "webhook-signature": f"{other} v1,AA=="}, body, now=int(timestamp))

    legacy = headers["x-hotline-signature"]
    other = _expected_legacy_signature("old-secret", timestamp, body)
    assert verify_legacy(SECRET, timestamp, f"{other}, {legacy}", body, now=int(timestamp))
    assert verify_legacy(SECRET, timestamp, f"{legacy},{other}", body, now=int(timestamp))
    assert not verify_legacy(SECRET, timestamp, f"{other},v1=00", body, now=int(timestamp))


def test_a_request_replayed_under_another_delivery_id_is_caught_by_the_documented_checks(receiver, client):
    """A request captured in transit and sent again within the 5 minutes under a new delivery id. The standard
    signature covers webhook-id, so it fails at once. The legacy signature still verifies (its headers are not
    signed), but the signed body names the first delivery, so a receiver that de-duplicates on it, or checks the
    header against it, does the work once."""
    _deliver(receiver.base_url + "/status/200", client)
    [original] = receiver.requests
    replayed = httpx.post(
        receiver.base_url + "/status/200",
        content=original.body,
        headers={**original.headers, "X-Hotline-Delivery": "dlv-forged", "webhook-id": "dlv-forged"},
    )
    assert replayed.status_code == 200
    checks = []
    for request in receiver.requests:
        headers = _lowered(request.headers)
        timestamp, signature = headers["x-hotline-timestamp"], headers["x-hotline-signature"]
        assert verify_legacy(SECRET, timestamp, signature, request.body, now=NOW + 60), "the headers are not signed"
        header_matches = verify_legacy(
            SECRET, timestamp, signature, request.body, delivery_id=headers["x-hotline-delivery"], now=NOW
        )
        standard = verify(SECRET, headers, request.body, now=NOW)
        checks.append((json.loads(request.body)["delivery_id"], header_matches, standard))
    # de-duplicated on the signed id, the replay is the delivery already handled; its headers give it away
    assert checks == [("dlv-1", True, True), ("dlv-1", False, False)]


def test_the_payload_must_be_for_the_event_sent(client):
    with pytest.raises(ValueError, match="not 'call\\.failed'"):
        deliver("http://127.0.0.1:9/", SECRET, "call.failed", PAYLOAD, "d", 1, client=client, options=WebhookOptions())


def test_rotation_sends_one_signature_per_secret(receiver, client):
    result = _deliver(receiver.base_url + "/status/204", client, secret=("new-secret", "old-secret"))

    assert result.delivered
    [request] = receiver.requests
    headers = _lowered(request.headers)
    timestamp = headers["webhook-timestamp"]
    assert headers["webhook-signature"].split(" ") == [
        _expected_signature(b"new-secret", "dlv-1", timestamp, request.body),
        _expected_signature(b"old-secret", "dlv-1", timestamp, request.body),
    ]
    signature = headers["x-hotline-signature"]
    assert signature.split(",") == [
        _expected_legacy_signature("new-secret", timestamp, request.body),
        _expected_legacy_signature("old-secret", timestamp, request.body),
    ]
    for secret in ("new-secret", "old-secret"):
        assert verify(secret, headers, request.body, now=NOW)
        assert verify_legacy(secret, timestamp, signature, request.body, now=NOW)


@pytest.mark.parametrize(("code", "retry"), [(500, True), (503, True), (429, True), (410, False), (400, False)])
def test_error_answers_decide_retry(receiver, client, code, retry):
    result = _deliver(f"{receiver.base_url}/status/{code}", client)

    assert (result.status_code, result.delivered, result.retry) == (code, False, retry)
    assert result.error.startswith(f"HTTP {code}: line of a long error page")
    assert "\n" not in result.error
    assert len(result.error) <= 200


def test_timeout_is_retried_with_a_message(receiver, client):
    result = _deliver(receiver.base_url + "/slow", client, timeout_s=0.2)

    assert (result.status_code, result.delivered, result.retry) == (None, False, True)
    assert "timed out" in result.error
    assert result.duration_s < 2


def test_refused_connection_is_retried(client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on that port any more.
    result = _deliver(f"http://127.0.0.1:{port}/hook", client)

    assert (result.status_code, result.delivered, result.retry) == (None, False, True)
    assert result.error.startswith("ConnectError")
    assert "\n" not in result.error


def test_redirect_is_not_followed(receiver, client):
    with httpx.Client(follow_redirects=True) as following:
        result = _deliver(receiver.base_url + "/redirect", following)

    assert (result.status_code, result.delivered, result.retry) == (302, False, False)
    assert "redirect" in result.error
    assert [r.path for r in receiver.requests] == ["/redirect"]


def test_logs_name_host_event_delivery_and_status_but_never_the_payload(receiver, client, caplog):
    payload_marker = "13812345678"
    with caplog.at_level(logging.DEBUG, logger="pipeline.service.webhooks"):
        deliver(
            receiver.base_url + "/status/500?token=sekrit",
            SECRET,
            "call.failed",
            {"secret_detail": payload_marker},
            "dlv-9",
            3,
            client=client,
            options=WebhookOptions(timeout_s=2),
        )

    text = caplog.text
    assert all(s in text for s in ("127.0.0.1", "call.failed", "dlv-9", "500"))
    assert payload_marker not in text
    assert "sekrit" not in text


def test_unknown_event_is_a_programming_error(client):
    with pytest.raises(ValueError, match="unknown webhook event"):
        deliver("http://127.0.0.1:9/", SECRET, "call.started", {}, "d", 1, client=client, options=WebhookOptions())


def _top(a: float, b: float) -> float:
    return b


def test_backoff_grows_exponentially_and_is_capped():
    options = WebhookOptions()
    ceilings = [backoff_delay(n, options, uniform=_top) for n in range(1, 10)]

    assert ceilings == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff_delay(10_000, options, uniform=_top) == 3600
    with pytest.raises(ValueError):
        backoff_delay(0, options)


def test_backoff_jitter_is_within_the_ceiling_and_repeatable():
    options = WebhookOptions(backoff_base_s=1, backoff_max_s=8)
    first = [backoff_delay(n, options, uniform=random.Random(7).uniform) for n in range(1, 8)]
    again = [backoff_delay(n, options, uniform=random.Random(7).uniform) for n in range(1, 8)]

    assert first == again
    assert all(0 <= d <= min(8, 2 ** (n - 1)) for n, d in enumerate(first, start=1))
    assert len(set(first)) > 1


def _attempt(attempt: int, *, retry: bool, delivered: bool = False) -> DeliveryAttempt:
    return DeliveryAttempt("d", "http://x", "call.done", attempt, None, None, 0.1, delivered, retry)


def test_retry_delay_stops_after_max_attempts_or_final_answers():
    options = WebhookOptions(max_attempts=3)

    assert retry_delay(_attempt(1, retry=True), options, uniform=_top) == 30
    assert retry_delay(_attempt(2, retry=True), options, uniform=_top) == 60
    assert retry_delay(_attempt(3, retry=True), options, uniform=_top) is None
    assert retry_delay(_attempt(1, retry=False), options) is None
    assert retry_delay(_attempt(1, retry=False, delivered=True), options) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/hooks/hotline",
        "http://93.184.216.34:8080/hook?token=abc",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
        "https://[64:ff9b::5db8:d822]/hook",  # NAT64 of the public 93.184.216.34
        "https://[2002:5db8:d822::]/hook",  # 6to4 of the same
    ],
)
def test_public_urls_are_accepted(url):
    assert validate_webhook_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.216.34/hook", "http or https"),
        ("93.184.216.34/hook", "http or https"),
        ("https:///hook", "no host"),
        ("https://user:pw@93.184.216.34/hook", "user name or password"),
        ("https://token@93.184.216.34/hook", "user name or password"),
        ("https://93.184.216.34:99999/hook", "malformed"),
        ("http://127.0.0.1/hook", "non-public"),
        ("http://10.0.0.1/hook", "non-public"),
        ("http://192.168.1.20/hook", "non-public"),
        ("http://169.254.169.254/latest/meta-data", "non-public"),
        ("http://[64:ff9b::7f00:1]/hook", "non-public"),  # NAT64 of 127.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/hook", "non-public"),  # NAT64 of the metadata address
        ("http://[2002:7f00:1::]/hook", "non-public"),  # 6to4 of 127.0.0.1
        ("http://[2002:a00:1::]/hook", "non-public"),  # 6to4 of 10.0.0.1
        ("http://100.64.0.1/hook", "non-public"),
        ("http://224.0.0.1/hook", "non-public"),
        ("http://0.0.0.0/hook", "non-public"),
        ("http://[::1]/hook", "non-public"),
        ("http://[fe80::1]/hook", "non-public"),
        ("http://[::ffff:127.0.0.1]/hook", "non-public"),
    ],
)
def test_unfit_urls_are_rejected_with_one_line(url, reason):
    with pytest.raises(ValueError, match=reason) as excinfo:
        validate_webhook_url(url, allow_private=False)
    assert "\n" not in str(excinfo.value)


def test_private_addresses_allowed_when_asked_but_scheme_and_credentials_still_checked():
    assert validate_webhook_url("http://127.0.0.1:8080/hook", allow_private=True) == "http://127.0.0.1:8080/hook"
    assert validate_webhook_url("http://intranet.local/hook", allow_private=True) == "http://intranet.local/hook"
    with pytest.raises(ValueError):
        validate_webhook_url("file:///etc/passwd", allow_private=True)
    with pytest.raises(ValueError):
        validate_webhook_url("http://a:b@10.0.0.1/", allow_private=True)


def _fake_resolver(table: dict[str, list[str]]):
    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in table[host]]

    return getaddrinfo


def test_host_names_are_checked_on_every_resolved_address(monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        _fake_resolver({"hooks.example.com": ["93.184.216.34"], "sneaky.example.com": ["93.184.216.34", "10.1.2.3"]}),
    )

    assert validate_webhook_url("https://hooks.example.com/x", allow_private=False) == "https://hooks.example.com/x"
    with pytest.raises(ValueError, match=r"non-public address 10\.1\.2\.3"):
        validate_webhook_url("https://sneaky.example.com/x", allow_private=False)
    with pytest.raises(ValueError, match="does not resolve"):
        validate_webhook_url("https://nowhere.example.com/x", allow_private=False)


def _ticket_with_personal_data() -> Ticket:
    ticket = Ticket.empty()
    ticket.fields["phone"] = TicketField(value="13812345678", confidence=0.9, raw="幺三八一二三四五六七八")
    ticket.fields["id_number"] = TicketField(value="110101199003078515", confidence=0.9)
    ticket.fields["caller_name"] = TicketField(value="张三", confidence=0.8)
    ticket.fields["address"] = TicketField(value="朝阳区幸福路12号3单元502", confidence=0.7)
    ticket.fields["summary"] = TicketField(value="来电人13812345678反映物业不作为", confidence=0.6)
    ticket.fields["request_type"] = TicketField(value="投诉", confidence=0.8)
    ticket.department_suggestions = [
        DepartmentSuggestion("区住建委", 0.82, ["物业"]),
        DepartmentSuggestion("街道办", 0.4, []),
    ]
    ticket.review = "check"
    return ticket


def test_summary_of_a_done_call_has_no_personal_data():
    timings = {"decode": 0.1, "transcribe": 4.2}
    links = {"call": "https://hotline.example/api/calls/c-1", "ticket": "https://hotline.example/api/calls/c-1/ticket"}
    payload = call_summary("c-1", "done", ticket=_ticket_with_personal_data(), error=None, timings=timings, links=links)

    assert payload == {
        "event": "call.done",
        "call_id": "c-1",
        "status": "done",
        "error": None,
        "review": "check",
        "department": "区住建委",
        "request_type": "投诉",
        "timings": timings,
        "links": links,
    }
    wire = json.dumps(payload, ensure_ascii=False)
    assert not re.search(r"\d{7,}", wire)
    for personal in ("张三", "幸福路", "幺三八"):
        assert personal not in wire


def test_summary_of_a_failed_call_without_ticket():
    payload = call_summary(
        "c-2", "failed", ticket=None, error="no speech found", error_kind="NoSpeechError", timings=None, links={}
    )

    assert payload["event"] == "call.failed"
    assert payload["error"] == {"kind": "NoSpeechError", "message": "no speech found"}
    assert (payload["review"], payload["department"], payload["request_type"], payload["timings"]) == (None,) * 4


def test_summary_tolerates_a_ticket_without_suggestions_or_request_type():
    ticket = Ticket.empty()
    del ticket.fields["request_type"]
    payload = call_summary("c-3", "done", ticket=ticket, error=None, timings={}, links={})

    assert (payload["review"], payload["department"], payload["request_type"]) == ("manual", None, None)


def test_summary_only_for_final_statuses():
    with pytest.raises(ValueError):
        call_summary("c-4", "running", ticket=None, error=None, timings=None, links={})
