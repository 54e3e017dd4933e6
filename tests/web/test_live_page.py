"""The operator page follows a live call in a real browser: a real uvicorn (WebSocket and Server-Sent Events), a real
Redis (db 13), a live worker over the fake transcriber (tests/live_fakes.py: utterances by loudness) and a
telephony client (`LivePush`) playing a synthetic call at real time. The call is in the queue marked 通话中, its
turns appear on the page before the hang-up, a field the operator typed into keeps its text when a later ticket
changes it (the machine's value offered beside it), and at hang-up the page shows the ticket to review."""

import re
import threading
import time
from contextlib import contextmanager

import httpx
import numpy as np
import pytest
import redis
from browser_pages import browser, expect, page  # noqa: F401  (fixtures: the browser, a fresh tab)
from live_fakes import FakeTranscribers
from service_builders import RecordingQueue, auth, fresh_redis, make_settings, new_key, quiet_services, serving
from test_pages import _log_in

from api.main import create_app
from models import CallMeta, CallTranscript, DepartmentSuggestion, KbAnswer, Ticket, TicketField, Turn
from pipeline.service.live import wire
from pipeline.service.live.client import LivePush, frames_of
from pipeline.service.live.worker import LiveWorker, LiveWorkerOptions

pytestmark = pytest.mark.slow

TEST_REDIS_DB = 13  # this suite's own database number on the shared Redis
RATE = 8000
FRAME_MS = 20
FORMAT = wire.AudioFormat("mulaw", RATE, 2, {"0": "agent", "1": "caller"})
# (channel, from s, to s): who speaks when; long enough for the page to open the call while it goes on
SPEECH = [
    (0, 1.0, 2.0),
    (1, 3.0, 4.5),
    (0, 5.5, 6.5),
    (1, 7.5, 9.0),
    (0, 10.0, 11.0),
    (1, 12.0, 13.5),
    (0, 14.5, 15.5),
    (1, 16.5, 18.0),
    (0, 19.0, 20.0),
]
CALL_S = 21.0
CALLER_TURNS = sum(channel == 1 for channel, _, _ in SPEECH)
CALL_ID = "live-page-1"
CALLER = "13800007731"
TYPED = "市民反映路灯不亮（接线员记录）"
UNITS = ["龙华区市政管理局", "海口市供电局", "美兰区住房和城乡建设局"]


def call_samples() -> np.ndarray:
    """Stereo int16 at 8 kHz: a tone on the speaking party's channel, silence elsewhere."""
    samples = np.zeros((int(CALL_S * RATE), 2), dtype=np.int16)
    for channel, start, end in SPEECH:
        t = np.arange(int((end - start) * RATE)) / RATE
        samples[int(start * RATE) : int(start * RATE) + len(t), channel] = 8000 * np.sin(2 * np.pi * 440 * t)
    return samples


class TurnCountingExtractor:
    """A ticket that changes with every caller turn: the summary and the address count them, the department
    suggestions change (the second of one ticket is in none of the next), and from the second caller turn on a
    knowledge-base answer comes."""

    def extract(self, transcript: CallTranscript, meta: CallMeta) -> Ticket:
        callers = sum(turn.role == "caller" for turn in transcript.turns)
        ticket = Ticket.empty()
        ticket.fields["summary"] = TicketField(f"市民第{callers}句后的摘要", 0.9)
        ticket.fields["address"] = TicketField(f"龙华区第{callers}号", 0.9)
        ticket.department_suggestions = [
            DepartmentSuggestion(UNITS[(rank - callers) % 3], 0.8 - 0.3 * rank, [f"第{callers}句"]) for rank in (0, 1)
        ]
        if callers >= 2:
            ticket.kb_answers = [KbAnswer("kb-1", "路灯报修", "路灯由市政部门维修。", "路灯坏了由市政来修。", 0.9)]
        ticket.review = "check"
        return ticket


@pytest.fixture
def redis_url():
    with fresh_redis(TEST_REDIS_DB) as url:
        yield url


@contextmanager
def live_site(tmp_path, redis_url: str, refine=None):
    """uvicorn serving the app and the pages, and a live worker on a thread of the test."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'live-page.db'}", redis_url=redis_url)
    services = quiet_services(settings)
    keys = {
        "telephony": new_key(services, "telephony"),
        "operator": new_key(services, "operator", "op-live", agent_id="A1024"),
    }
    client = redis.Redis.from_url(redis_url)
    worker = LiveWorker(
        client,
        services.repository,
        services.store,
        RecordingQueue(),
        FakeTranscribers(),
        TurnCountingExtractor(),
        LiveWorkerOptions(lease_s=10.0, abandon_after_s=30.0, block_s=0.1),
        name="page-worker",
        refine=refine,
    )
    stop = threading.Event()
    working = threading.Thread(target=worker.run, args=(stop,), name="live-worker-page", daemon=True)
    working.start()
    try:
        with serving(create_app(services=services), "uvicorn-live-page", ws="websockets-sansio") as port:
            yield f"127.0.0.1:{port}", keys
    finally:
        stop.set()
        working.join(timeout=10)
        client.close()
        services.engine.dispose()


def play_call(host: str, key: str, hung_up: threading.Event, outcome: dict) -> threading.Thread:
    """The telephony system playing the call in at real time, on a thread; `hung_up` is set after its last frame."""

    def frames():
        yield from frames_of(call_samples(), FORMAT, FRAME_MS)
        hung_up.set()

    def telephony():
        meta = CallMeta(CALL_ID, caller_number=CALLER, agent_id="A1024", channel_map=FORMAT.channel_map)
        try:
            outcome["final"] = LivePush(f"ws://{host}/v1/live", key, meta, FORMAT).play(frames(), FRAME_MS / 1000)
        except Exception as error:  # the assertion that reads `outcome` names it
            outcome["error"] = error

    pbx = threading.Thread(target=telephony, name="pbx", daemon=True)
    pbx.start()
    return pbx


def wait_registered(base: str, operator_key: str) -> None:
    """Until the live call is in the API (its start frame was taken)."""
    with httpx.Client(base_url=base, timeout=10) as api:
        deadline = time.monotonic() + 10
        while api.get(f"/v1/calls/{CALL_ID}", headers=auth(operator_key)).status_code != 200:
            assert time.monotonic() < deadline, "the live call was not registered"
            time.sleep(0.1)


def test_the_operator_sees_a_live_call_grow_and_keeps_what_they_typed(tmp_path, redis_url, page):
    with live_site(tmp_path, redis_url) as (host, keys):
        base = f"http://{host}"
        hung_up, outcome = threading.Event(), {}
        pbx = play_call(host, keys["telephony"], hung_up, outcome)
        wait_registered(base, keys["operator"])

        _log_in(page, base, keys["operator"])
        expect(page).to_have_url(f"{base}/ui/operator.html")
        # in the queue at once, marked 通话中
        queued = page.locator(f'.queue-item[data-call-id="{CALL_ID}"]')
        expect(queued.locator(".q-status")).to_have_text("通话中")
        queued.click()
        expect(page.locator("#live-status")).to_have_text("实时转写中…")

        turns = page.locator("#transcript .turn")
        expect(turns.first).to_be_visible()
        assert not hung_up.is_set(), "the first turn is on the page before the call ends"
        # a caller turn brings a ticket: the operator types their own summary over the machine's
        summary = page.locator("#f-summary")
        expect(summary).to_have_value(re.compile(r"^市民第\d句后的摘要$"))
        heard = int(re.search(r"\d", summary.input_value()).group())
        assert heard < CALLER_TURNS and not hung_up.is_set(), "the page opened the call while it went on"
        summary.fill(TYPED)
        picked = page.locator("#dept-1").get_attribute("value")  # and picks the second suggested unit
        page.locator('label[for="dept-1"]').click()
        page.locator("#f-caller_name").focus()  # the operator moves on: the summary is no longer focused
        # the next caller turn: the untouched address follows the machine, the summary keeps the operator's text
        expect(page.locator("#f-address")).to_have_value(f"龙华区第{heard + 1}号")
        expect(summary).to_have_value(TYPED)
        # suggestions and knowledge-base answers follow the machine too; the unit the operator picked stays picked
        expect(page.locator("#dept-other")).to_be_checked()
        expect(page.locator("#dept-other-text")).to_have_value(picked)
        expect(page.locator("#department-options .dept-reasons").first).to_have_text(f"第{heard + 1}句")
        expect(page.locator("#kb-list")).to_contain_text("路灯坏了由市政来修。")
        hint = page.locator('.field[data-field="summary"] .machine-hint')
        expect(hint).to_contain_text(f"市民第{heard + 1}句后的摘要")
        assert not hung_up.is_set(), "the ticket grew during the call"
        expect(page.locator("#save")).to_be_disabled()

        # the hang-up: every turn, the final ticket to review, the operator's text still there and savable
        pbx.join(timeout=60)
        assert "error" not in outcome, outcome
        expect(page.locator("#live-status")).to_have_text("通话已结束，请核对工单")
        expect(turns).to_have_count(len(SPEECH))
        expect(page.locator("#f-address")).to_have_value(f"龙华区第{CALLER_TURNS}号")
        expect(summary).to_have_value(TYPED)
        expect(hint).to_contain_text(f"市民第{CALLER_TURNS}句后的摘要")
        expect(page.locator("#save")).to_be_enabled()
        page.locator("#save").click()
        expect(page.locator("#ticket-message")).to_have_text("修改已保存")
        assert outcome["final"].final["status"] == "done"
        # what the page saved is the operator's correction of the final ticket; the machine's stays beside it
        with httpx.Client(base_url=base, timeout=10) as api:
            out = api.get(f"/v1/calls/{CALL_ID}/ticket", headers=auth(keys["operator"])).json()
        assert out["ticket"]["fields"]["summary"]["value"] == TYPED
        assert out["department"] == picked
        assert out["ticket"]["fields"]["summary"]["source"] == "corrected"
        assert out["machine_ticket"]["fields"]["summary"]["value"] == f"市民第{CALLER_TURNS}句后的摘要"


class HeldFullCallPass:
    """The worker's full-call pass: waits for `go`, then a transcript with words of its own and a ticket whose
    summary and address differ from every live one."""

    def __init__(self):
        self.go = threading.Event()

    def __call__(self, recording, meta):
        assert self.go.wait(60)
        turn = Turn("caller", "SPEAKER_01", 1, 3.0, 4.5, "整通复核后的市民原话", 0.9, [])
        transcript = CallTranscript(meta.call_id, CALL_S, RATE, 2, "zh", "batch", [turn])
        ticket = Ticket.empty()
        ticket.fields["summary"] = TicketField("整通复核后的摘要", 0.9)
        ticket.fields["address"] = TicketField("整通复核后的地址", 0.9)
        ticket.department_suggestions = [DepartmentSuggestion(UNITS[0], 0.8, ["整通复核"])]
        ticket.review = "check"
        return transcript, ticket


def test_after_hang_up_the_full_call_pass_refines_the_page_but_not_what_the_operator_typed(tmp_path, redis_url, page):
    refine = HeldFullCallPass()
    with live_site(tmp_path, redis_url, refine) as (host, keys):
        base = f"http://{host}"
        hung_up, outcome = threading.Event(), {}
        pbx = play_call(host, keys["telephony"], hung_up, outcome)
        wait_registered(base, keys["operator"])
        _log_in(page, base, keys["operator"])
        page.locator(f'.queue-item[data-call-id="{CALL_ID}"]').click()
        expect(page.locator("#live-status")).to_have_text("实时转写中…")
        pbx.join(timeout=60)
        assert "error" not in outcome, outcome
        # the final (live) ticket at once, and the page says the full-call pass is running
        expect(page.locator("#live-status")).to_have_text("通话已结束，请核对工单；整通录音复核中…")
        summary = page.locator("#f-summary")
        expect(page.locator("#f-address")).to_have_value(f"龙华区第{CALLER_TURNS}号")
        summary.fill(TYPED)  # the operator works on the summary, not saved yet
        page.locator("#f-caller_name").focus()
        refine.go.set()
        expect(page.locator("#live-status")).to_have_text("整通复核已完成，工单已更新")
        # the refined ticket: the untouched address follows it, the typed summary stays with the refined one offered
        expect(page.locator("#f-address")).to_have_value("整通复核后的地址")
        expect(summary).to_have_value(TYPED)
        expect(page.locator('.field[data-field="summary"] .machine-hint')).to_contain_text("整通复核后的摘要")
        expect(page.locator("#transcript")).to_contain_text("整通复核后的市民原话")
        page.locator("#save").click()
        expect(page.locator("#ticket-message")).to_have_text("修改已保存")
        with httpx.Client(base_url=base, timeout=10) as api:
            out = api.get(f"/v1/calls/{CALL_ID}/ticket", headers=auth(keys["operator"])).json()
        assert out["ticket"]["fields"]["summary"]["value"] == TYPED
        assert out["ticket"]["fields"]["address"]["value"] == "整通复核后的地址"
        assert out["department"] == UNITS[0], "the refined suggestion, as nobody picked a unit"
        assert out["machine_ticket"]["fields"]["summary"]["value"] == "整通复核后的摘要"
