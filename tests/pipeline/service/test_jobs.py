"""`Jobs`, what a worker does with a call or delivery id, over fakes at its ports: a processor without models, a
queue that records what it is handed, a recording store in memory, a webhook receiver on an httpx
`MockTransport`, and a clock that moves only when told. The repository is real (SQLite): the transitions are
its (tests/pipeline/service/test_lease_states.py takes them one by one).

A call, job by job:

    from                              job and what happens                         to
    queued                            transcribe                                   transcript saved, extract enqueued
    transcript saved                  extract                                      done, ticket stored, webhook enqueued
    transcript saved                  extract, extraction switched off             done without a ticket
    held by another worker            transcribe or extract (duplicate delivery)   unchanged: skipped
    phase already done                the same job again (duplicate delivery)      unchanged: skipped
    queued or transcript saved        permanent error (bad audio, no speech,       failed with the reason, webhook
                                      no recording)                                enqueued
    claimed                           transient error or a crash of ours           lease released, claimable at once;
                                                                                   the error goes up (Celery retries)
    claimed more than max_attempts    any job                                      failed: gave up, webhook enqueued
    lease expired (worker died)       sweep, then the job                          re-enqueued, claimed with attempts +1
    queued, message lost              sweep after requeue_after_s                  re-enqueued for its phase
    done or failed, past retention    purge_recordings                             audio deleted (kept while another
                                                                                   call still uses the same recording)

A webhook delivery, attempt by attempt (deliver_webhook):

    pending                           2xx                                          delivered
    pending                           5xx, 429, network error, timeout             retry: pending, due after a backoff
    pending, due                      sweep                                        enqueued
    pending                           other 4xx, or retries used up                failed
    pending                           URL resolves to a private address            failed, nothing sent
    delivered, failed, or unknown     deliver_webhook (duplicate delivery)         skipped, nothing sent
"""

import json
import time
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from service_builders import RecordingQueue
from service_fakes import FakeClock, FakeProcessor, FakeStore, a_ticket, open_repository, register, webhook_key

from models import (
    AudioDecodeError,
    AudioTooLongError,
    ModelLoadError,
    NoSpeechError,
    StorageError,
)
from pipeline.service.jobs import JobOptions, Jobs
from pipeline.service.queues import ThreadQueue
from pipeline.service.repository import WEBHOOK_FALLBACK_S, Phase
from pipeline.service.webhooks import WebhookOptions, verify

LEASE_S = 60.0
REQUEUE_AFTER_S = 100.0
MAX_ATTEMPTS = 3
HOOK_URL = "https://receiver.example/hooks"
OPTIONS = JobOptions(
    lease_s=LEASE_S,
    requeue_after_s=REQUEUE_AFTER_S,
    heartbeat_s=0.0,  # every stage writes its progress
    max_attempts=MAX_ATTEMPTS,
    public_url="https://hotline.example",
    allow_private_webhooks=True,  # the receiver's host name is never resolved: the transport is a mock
    webhooks=WebhookOptions(max_attempts=3, backoff_base_s=30, backoff_max_s=60),
)


class Receiver:
    """The client's webhook endpoint: answers each request with the next of `answers` (an HTTP status, or an
    exception to raise), 204 when none is left, and keeps what it received."""

    def __init__(self):
        self.answers: list[int | Exception] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else 204
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, text="" if answer < 300 else "busy")


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    return FakeClock().install(monkeypatch)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def jobs(tmp_path, clock, receiver):
    http = httpx.Client(transport=httpx.MockTransport(receiver), follow_redirects=False)
    jobs = Jobs(
        repository=open_repository(tmp_path),
        store=FakeStore(),
        queue=RecordingQueue(),
        processor=FakeProcessor(),
        options=OPTIONS,
        http=http,
        worker_name="worker-test",
    )
    yield jobs
    http.close()


def push(jobs: Jobs, call_id: str, *, webhook: bool = False, content: bytes | None = None) -> str:
    """A pushed call: its recording in the store, the call queued (by a key with a webhook URL if `webhook`)."""
    content = content if content is not None else f"RIFF {call_id}".encode()
    jobs.store.add(content)
    key_id = webhook_key(jobs.repository, HOOK_URL) if webhook else None
    return register(jobs.repository, call_id, pushed_by=key_id, recording=content)


def claims(jobs: Jobs, call_id: str, phase: Phase) -> int:
    """How many times the phase was claimed (the call's `attempts` count the current phase only)."""
    return sum(event.event == f"claimed:{phase}" for event in jobs.repository.events(call_id))


def enqueued(jobs: Jobs) -> list[tuple]:
    handed, jobs.queue.jobs = jobs.queue.jobs, []
    return handed


def done(jobs: Jobs, call_id: str, **push_options) -> str:
    """A call pushed and taken through both phases; returns its webhook delivery id when it has one."""
    push(jobs, call_id, **push_options)
    assert jobs.transcribe(call_id) == "transcribed"
    assert jobs.extract(call_id) == "done"
    webhooks = [job[1] for job in enqueued(jobs) if job[0] == "webhook"]
    return webhooks[0] if webhooks else ""


def test_queued_to_transcript_saved_enqueues_extraction(jobs):
    push(jobs, "c-1", content=b"RIFF the recording")
    assert jobs.transcribe("c-1") == "transcribed"
    assert jobs.processor.transcribed == [("c-1", b"RIFF the recording")]
    call = jobs.repository.get("c-1")
    # waiting for extraction, which has had no try yet
    assert (call.status, call.stage, call.lease_until, call.attempts) == ("processing", "extract", None, 0)
    assert call.transcript["turns"][0]["text"] == "你好热线"
    assert "ticket" not in call.transcript, "the ticket has its own column"
    assert (call.timings, call.audio_duration_s) == ({"decode": 0.01, "transcribe": 0.02}, 12.5)
    assert enqueued(jobs) == [(Phase.EXTRACT, "c-1", "live")]


def test_transcribing_writes_progress_under_a_held_lease_and_a_duplicate_delivery_is_skipped(jobs, clock):
    push(jobs, "c-1")
    seen = {}

    def inside_transcription():
        call = jobs.repository.get("c-1")
        seen["call"] = (call.status, call.stage, call.lease_until, call.progress)
        seen["duplicate"] = jobs.transcribe("c-1")  # the same message handed to a second worker meanwhile

    jobs.processor.during_transcription = inside_transcription
    assert jobs.transcribe("c-1") == "transcribed"
    progress = {"decode": {"completed": None, "total": None}, "transcribe": {"completed": 0, "total": 2}}
    assert seen == {
        "call": ("processing", "transcribe", clock.now + timedelta(seconds=LEASE_S), progress),
        "duplicate": "skipped",
    }
    assert len(jobs.processor.transcribed) == 1
    assert claims(jobs, "c-1", Phase.TRANSCRIBE) == 1


def test_a_new_stage_is_written_at_once_and_progress_within_it_at_most_every_heartbeat(jobs):
    # The operator's queue shows the stage: it must not say "decode" for the whole transcription because the
    # stage began less than a heartbeat after decoding did.
    jobs.options = replace(OPTIONS, heartbeat_s=3600.0)
    push(jobs, "c-1")
    seen = []
    jobs.processor.during_transcription = lambda: seen.append(jobs.repository.get("c-1").stage)
    assert jobs.transcribe("c-1") == "transcribed"
    assert seen == ["transcribe"]


def test_transcript_saved_to_done_with_the_ticket_and_a_webhook_enqueued(jobs, clock):
    push(jobs, "c-1", webhook=True)
    jobs.transcribe("c-1")
    enqueued(jobs)
    assert jobs.extract("c-1") == "done"
    call = jobs.repository.get("c-1")
    # attempts count the tries of a phase: a call that went through first time says 1, not 2 (one per phase)
    assert (call.status, call.lease_until, call.finished_at, call.attempts) == ("done", None, clock.now, 1)
    assert call.ticket == call.machine_ticket == a_ticket()
    assert call.review == "check"
    assert set(call.timings) == {"decode", "transcribe", "extract"}
    [(kind, delivery_id)] = enqueued(jobs)
    assert kind == "webhook"
    assert jobs.repository.delivery(delivery_id)[0].event == "call.done"


def test_transcript_saved_to_done_without_a_ticket_when_extraction_is_switched_off(jobs):
    jobs.processor.ticket = None
    push(jobs, "c-1")
    jobs.transcribe("c-1")
    assert jobs.extract("c-1") == "done"
    call = jobs.repository.get("c-1")
    assert (call.status, call.ticket, call.review, call.department) == ("done", None, None, None)


def test_a_phase_already_done_is_skipped_when_its_message_comes_again(jobs):
    push(jobs, "c-1")
    jobs.transcribe("c-1")
    assert jobs.transcribe("c-1") == "skipped"
    jobs.extract("c-1")
    enqueued(jobs)
    assert jobs.extract("c-1") == "skipped"
    assert jobs.transcribe("c-1") == "skipped"
    assert (len(jobs.processor.transcribed), len(jobs.processor.extracted)) == (1, 1)
    assert enqueued(jobs) == []
    assert jobs.repository.get("c-1").attempts == 1


def test_extraction_waits_for_the_transcript(jobs):
    push(jobs, "c-1")
    assert jobs.extract("c-1") == "skipped"
    assert jobs.repository.get("c-1").status == "queued"


@pytest.mark.parametrize(
    "error",
    [AudioDecodeError("not a recording"), AudioTooLongError("4000 s is over the limit"), NoSpeechError("silence")],
    ids=lambda error: type(error).__name__,
)
def test_permanent_error_to_failed_with_the_reason_and_a_webhook_enqueued(jobs, error):
    push(jobs, "c-1", webhook=True)
    jobs.processor.transcribe_error = error
    assert jobs.transcribe("c-1") == "failed"
    call = jobs.repository.get("c-1")
    assert (call.status, call.error_kind, call.error, call.lease_until) == (
        "failed",
        type(error).__name__,
        str(error),
        None,
    )
    [(kind, delivery_id)] = enqueued(jobs)
    assert kind == "webhook" and jobs.repository.delivery(delivery_id)[0].event == "call.failed"
    assert jobs.transcribe("c-1") == "skipped", "failed is final"


def test_a_recording_missing_from_the_store_to_failed(jobs):
    push(jobs, "c-1")
    jobs.store.recordings.clear()
    assert jobs.transcribe("c-1") == "failed"
    call = jobs.repository.get("c-1")
    assert (call.status, call.error_kind) == ("failed", "RecordingNotFoundError")
    assert jobs.processor.transcribed == []


@pytest.mark.parametrize(
    "error",
    [StorageError("store unreachable"), ModelLoadError("no model"), RuntimeError("a bug of ours")],
    ids=lambda error: type(error).__name__,
)
def test_transient_error_while_transcribing_releases_the_call_claimable_at_once(jobs, error):
    push(jobs, "c-1")
    jobs.processor.transcribe_error = error
    with pytest.raises(type(error)):
        jobs.transcribe("c-1")
    call = jobs.repository.get("c-1")
    assert (call.status, call.lease_until, call.transcript, call.error) == ("processing", None, None, None)
    assert enqueued(jobs) == []
    jobs.processor.transcribe_error = None
    assert jobs.transcribe("c-1") == "transcribed", "the retry claims it without waiting for the lease"
    assert claims(jobs, "c-1", Phase.TRANSCRIBE) == 2


def test_transient_error_while_extracting_releases_the_call_and_keeps_the_transcript(jobs):
    push(jobs, "c-1")
    jobs.transcribe("c-1")
    jobs.processor.extract_error = ModelLoadError("the routing model did not load")
    with pytest.raises(ModelLoadError):
        jobs.extract("c-1")
    call = jobs.repository.get("c-1")
    assert (call.status, call.lease_until, call.ticket) == ("processing", None, None)
    assert call.transcript is not None
    jobs.processor.extract_error = None
    assert jobs.extract("c-1") == "done"
    assert jobs.repository.get("c-1").attempts == 2, "extraction's two tries; transcription's one is not added"


def test_attempts_over_max_to_failed_without_running_again(jobs):
    push(jobs, "c-1", webhook=True)
    jobs.processor.transcribe_error = RuntimeError("this recording crashes the decoder")
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            jobs.transcribe("c-1")
    assert jobs.transcribe("c-1") == "failed"
    assert len(jobs.processor.transcribed) == MAX_ATTEMPTS
    call = jobs.repository.get("c-1")
    assert (call.status, call.error_kind, call.error, call.attempts) == (
        "failed",
        "ProcessingError",
        f"gave up after {MAX_ATTEMPTS} attempts",
        MAX_ATTEMPTS + 1,
    )
    assert [job[0] for job in enqueued(jobs)] == ["webhook"]


def test_lease_expired_after_a_worker_died_to_re_enqueued_and_claimed_with_attempts_plus_one(jobs, clock):
    push(jobs, "c-1")
    assert jobs.repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S, "worker-that-died") is not None
    assert jobs.transcribe("c-1") == "skipped", "the lease is held"
    assert jobs.sweep() == 0
    clock.advance(LEASE_S + 1)
    assert jobs.sweep() == 1
    assert enqueued(jobs) == [(Phase.TRANSCRIBE, "c-1", "live")]
    assert jobs.repository.get("c-1").attempts == 1
    assert jobs.transcribe("c-1") == "transcribed"
    assert claims(jobs, "c-1", Phase.TRANSCRIBE) == 2


def test_sweep_re_enqueues_calls_whose_message_was_lost_for_their_phase(jobs, clock):
    push(jobs, "waiting")
    push(jobs, "half-done")
    jobs.transcribe("half-done")
    enqueued(jobs)
    clock.advance(REQUEUE_AFTER_S - 1)
    assert jobs.sweep() == 0
    clock.advance(2)
    assert jobs.sweep() == 2
    assert sorted(enqueued(jobs)) == [(Phase.EXTRACT, "half-done", "live"), (Phase.TRANSCRIBE, "waiting", "live")]
    assert jobs.sweep() == 0, "re-enqueued once per wait"


def test_a_delivery_whose_message_was_lost_is_enqueued_by_the_sweep_after_the_fallback(jobs, clock):
    delivery_id = done(jobs, "c-1", webhook=True)
    assert jobs.sweep() == 0
    clock.advance(WEBHOOK_FALLBACK_S)
    assert jobs.sweep() == 1
    assert enqueued(jobs) == [("webhook", delivery_id)]


def test_pending_delivery_to_delivered_on_2xx_signed_with_the_keys_secret(jobs, receiver):
    delivery_id = done(jobs, "c-1", webhook=True)
    assert jobs.deliver_webhook(delivery_id) == "delivered"
    [request] = receiver.requests
    assert str(request.url) == HOOK_URL
    body = json.loads(request.content)
    assert (body["delivery_id"], body["event"], body["call_id"], body["status"]) == (
        delivery_id,
        "call.done",
        "c-1",
        "done",
    )
    assert body["links"]["ticket"] == "https://hotline.example/v1/calls/c-1/ticket"
    _, secret = jobs.repository.delivery(delivery_id)
    assert request.headers["webhook-id"] == delivery_id
    assert verify(secret, request.headers, request.content, now=int(request.headers["webhook-timestamp"]))
    delivery, _ = jobs.repository.delivery(delivery_id)
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 204)


def test_delivered_to_skipped_when_its_message_comes_again(jobs, receiver):
    delivery_id = done(jobs, "c-1", webhook=True)
    jobs.deliver_webhook(delivery_id)
    assert jobs.deliver_webhook(delivery_id) == "skipped"
    assert len(receiver.requests) == 1


def test_an_unknown_delivery_is_skipped(jobs, receiver):
    assert jobs.deliver_webhook("00000000-0000-4000-8000-000000000000") == "skipped"
    assert receiver.requests == []


@pytest.mark.parametrize(
    "answer", [503, 429, httpx.ConnectTimeout("timed out"), httpx.ConnectError("refused")], ids=str
)
def test_pending_to_retry_due_after_the_backoff_then_delivered(jobs, receiver, clock, answer):
    delivery_id = done(jobs, "c-1", webhook=True)
    receiver.answers = [answer]
    assert jobs.deliver_webhook(delivery_id) == "retry"
    delivery, _ = jobs.repository.delivery(delivery_id)
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    # full jitter: the first retry comes within the first backoff step (30 s)
    assert clock.now <= delivery.next_attempt_at <= clock.now + timedelta(seconds=30)
    clock.advance((delivery.next_attempt_at - clock.now).total_seconds() + 0.001)
    assert jobs.sweep() == 1
    assert enqueued(jobs) == [("webhook", delivery_id)]
    assert jobs.deliver_webhook(delivery_id) == "delivered"
    assert jobs.repository.delivery(delivery_id)[0].attempts == 2


def test_pending_to_failed_on_a_final_answer(jobs, receiver, clock):
    delivery_id = done(jobs, "c-1", webhook=True)
    receiver.answers = [410]
    assert jobs.deliver_webhook(delivery_id) == "failed"
    delivery, _ = jobs.repository.delivery(delivery_id)
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("failed", 1, 410)
    clock.advance(WEBHOOK_FALLBACK_S * 10)
    assert jobs.sweep() == 0


def test_pending_to_failed_when_the_retries_are_used_up(jobs, receiver, clock):
    delivery_id = done(jobs, "c-1", webhook=True)
    receiver.answers = [503, 503, 503]
    outcomes = []
    for _ in range(3):
        outcomes.append(jobs.deliver_webhook(delivery_id))
        clock.advance(60)
    assert outcomes == ["retry", "retry", "failed"]
    delivery, _ = jobs.repository.delivery(delivery_id)
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert jobs.sweep() == 0


def test_pending_to_failed_without_sending_when_the_url_is_private(jobs, receiver):
    jobs.options = replace(OPTIONS, allow_private_webhooks=False)
    key_id = webhook_key(jobs.repository, "http://127.0.0.1:9000/hooks")
    register(jobs.repository, "c-1", pushed_by=key_id)
    [delivery_id] = jobs.repository.fail("c-1", "NoSpeechError", "silence")
    assert jobs.deliver_webhook(delivery_id) == "failed"
    assert receiver.requests == []
    delivery, _ = jobs.repository.delivery(delivery_id)
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert "non-public address" in delivery.last_error


def test_finished_calls_past_retention_lose_their_audio_unless_another_call_uses_it(jobs, clock):
    done(jobs, "done-1", content=b"RIFF one")
    done(jobs, "done-2", content=b"RIFF shared")
    push(jobs, "queued-1", content=b"RIFF shared")  # the same recording pushed again, not processed yet
    clock.advance(timedelta(days=2).total_seconds())
    shared = next(key for key, content in jobs.store.recordings.items() if content == b"RIFF shared")
    assert jobs.purge_recordings(retention_days=1) == 2
    assert jobs.store.deleted == [jobs.repository.get("done-1").recording_key]
    assert shared in jobs.store.recordings, "queued-1 still needs it"
    assert jobs.repository.get("done-1").audio_deleted_at == clock.now
    assert jobs.repository.get("done-2").audio_deleted_at == clock.now
    assert jobs.repository.get("queued-1").audio_deleted_at is None
    assert jobs.repository.get("done-1").transcript is not None, "transcripts stay"
    assert jobs.purge_recordings(retention_days=1) == 0


def test_calls_within_retention_keep_their_audio(jobs, clock):
    done(jobs, "done-1")
    clock.advance(timedelta(hours=23).total_seconds())
    assert jobs.purge_recordings(retention_days=1) == 0
    assert jobs.store.deleted == []


def test_the_in_process_queue_runs_each_job_through_the_route_table(jobs, receiver):
    queue = ThreadQueue(threads=1)
    jobs.queue = queue
    push(jobs, "c-1", webhook=True)
    queue.start(jobs)
    try:
        queue.enqueue("transcribe", "c-1", "live")  # a phase as the API and the repository write it
        deadline = time.monotonic() + 30
        while not (queue.idle() and jobs.repository.get("c-1").status == "done"):
            assert time.monotonic() < deadline, "the queue did not finish the call"
            time.sleep(0.01)
    finally:
        queue.stop()
    assert jobs.repository.get("c-1").ticket == a_ticket()
    assert len(receiver.requests) == 1


def test_each_worker_task_runs_its_jobs_method(jobs, monkeypatch, receiver):
    from pipeline.service import tasks

    monkeypatch.setattr(tasks, "_jobs", lambda: jobs)
    push(jobs, "c-1", webhook=True)
    assert tasks.transcribe.run("c-1") == "transcribed"
    assert tasks.extract.run("c-1") == "done"
    [_, (_, delivery_id)] = enqueued(jobs)
    assert tasks.webhook.run(delivery_id) == "delivered"
    assert len(receiver.requests) == 1
