"""The repository's state machine of a call and of a webhook delivery, on a real SQLite database, with a clock
that moves only when a test says so. `Jobs` drives these transitions (tests/pipeline/service/test_jobs.py); here
each is taken on its own.

A call (`status`, whether a transcript is saved, the lease):

    from                                   event                               to
    -                                      register                            queued, attempts 0
    queued                                 claim(transcribe)                   processing, leased, attempts +1
    processing, no transcript, leased      claim(any phase) before expiry      unchanged (claim is None)
    processing, leased                     heartbeat                           lease extended, progress written
    processing, no transcript, leased      save_transcript                     transcript saved, lease released,
                                                                               attempts 0 (counted per phase)
    processing, no transcript              claim(extract)                      unchanged (not its turn)
    processing, transcript saved           claim(transcribe)                   unchanged (phase done)
    processing, transcript saved           claim(extract)                      leased, attempts +1
    processing, lease expired              claim(same phase)                   leased again, attempts +1
    processing, leased                     release                             lease dropped, claimable at once
    any, leased                            release_all                         lease dropped, enqueued_at reset
    processing, transcript saved, leased   finish                              done, ticket stored, webhook queued
    queued or processing                   fail                                failed with kind and message
    done or failed                         finish, fail, save_transcript       unchanged (written once)
    queued, unclaimed longer than N s      stale                               reported for its phase, timer reset
    processing, lease expired              stale                               reported for its phase
    -                                      claim(unknown phase)                ValueError

A webhook delivery (one per final call status, when the pushing key has a webhook URL):

    -                                      finish / fail                       pending, due after the fallback
    pending                                record_attempt(delivered)           delivered
    pending                                record_attempt(retry at t)          pending, due at t, attempts +1
    pending                                record_attempt(give up)             failed
    pending, due                           due_deliveries                      listed
    delivered or failed                    due_deliveries                      not listed
"""

from datetime import timedelta

import pytest
from service_fakes import FakeClock, open_repository, register, webhook_key
from sqlalchemy import update

from models import DepartmentSuggestion, Ticket
from pipeline.service.database import Call
from pipeline.service.repository import WEBHOOK_FALLBACK_S, Phase
from pipeline.service.webhooks import DeliveryAttempt

LEASE_S = 60.0


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    return FakeClock().install(monkeypatch)


@pytest.fixture
def repository(tmp_path, clock):
    return open_repository(tmp_path)


def transcribed(repository, call_id: str) -> None:
    """Phase 1 done: claimed for transcription, transcript saved."""
    assert repository.claim(call_id, Phase.TRANSCRIBE, LEASE_S) is not None
    assert repository.save_transcript(call_id, {"turns": []}, {"transcribe": 1.0}, 12.5)


def events(repository, call_id: str) -> list[str]:
    return [event.event for event in repository.events(call_id)]


def test_register_queues_the_call_with_no_attempts_and_no_lease(repository, clock):
    register(repository, "c-1")
    call = repository.get("c-1")
    assert (call.status, call.attempts, call.lease_until, call.enqueued_at) == ("queued", 0, None, clock.now)
    assert events(repository, "c-1") == ["queued"]


def test_queued_to_processing_on_claim_with_a_lease_and_one_attempt(repository, clock):
    register(repository, "c-1")
    call = repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S, worker="gpu-1")
    assert call is not None
    assert (call.status, call.stage, call.attempts) == ("processing", "transcribe", 1)
    assert call.lease_until == clock.now + timedelta(seconds=LEASE_S)
    assert call.processing_started_at == clock.now
    assert events(repository, "c-1") == ["queued", "claimed:transcribe"]


def test_claim_while_the_lease_is_held_is_refused_and_counts_no_attempt(repository, clock):
    register(repository, "c-1")
    repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S)
    clock.advance(LEASE_S - 1)
    assert repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S) is None
    assert repository.claim("c-1", Phase.EXTRACT, LEASE_S) is None
    assert repository.get("c-1").attempts == 1


def test_heartbeat_extends_the_lease_and_writes_progress(repository, clock):
    register(repository, "c-1")
    repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S)
    clock.advance(LEASE_S - 1)
    repository.heartbeat("c-1", "diarize", {"diarize": {"completed": None, "total": None}}, LEASE_S)
    call = repository.get("c-1")
    assert call.lease_until == clock.now + timedelta(seconds=LEASE_S)
    assert (call.stage, call.progress) == ("diarize", {"diarize": {"completed": None, "total": None}})
    clock.advance(2)  # past the first lease, within the extended one
    assert repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S) is None


def test_transcribing_lease_expired_to_claimable_again_with_attempts_plus_one(repository, clock):
    register(repository, "c-1")
    repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S, worker="died")
    clock.advance(LEASE_S + 1)
    call = repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S, worker="gpu-2")
    assert call is not None
    assert (call.status, call.attempts) == ("processing", 2)
    assert call.lease_until == clock.now + timedelta(seconds=LEASE_S)


def test_transcribing_to_transcript_saved_releases_the_lease_for_extraction(repository, clock):
    register(repository, "c-1")
    repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S)
    assert repository.claim("c-1", Phase.EXTRACT, LEASE_S) is None, "extraction waits for the transcript"
    clock.advance(5)
    assert repository.save_transcript("c-1", {"turns": []}, {"transcribe": 1.0}, 12.5)
    call = repository.get("c-1")
    assert (call.status, call.stage, call.lease_until) == ("processing", "extract", None)
    assert (call.transcript, call.timings, call.audio_duration_s) == ({"turns": []}, {"transcribe": 1.0}, 12.5)
    assert call.enqueued_at == clock.now
    assert events(repository, "c-1")[-1] == "transcribed"


def test_transcript_saved_twice_is_written_once(repository):
    register(repository, "c-1")
    transcribed(repository, "c-1")
    assert not repository.save_transcript("c-1", {"turns": [{"text": "again"}]}, {}, 1.0)
    assert repository.get("c-1").transcript == {"turns": []}


def test_transcript_saved_to_claimable_for_extraction_only(repository):
    register(repository, "c-1")
    transcribed(repository, "c-1")
    assert repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S) is None, "phase 1 is done"
    call = repository.claim("c-1", Phase.EXTRACT, LEASE_S)
    assert call is not None
    assert (call.stage, call.attempts) == ("extract", 1), "the tries of this phase"


def test_extracting_lease_expired_to_claimable_again_with_attempts_plus_one(repository, clock):
    register(repository, "c-1")
    transcribed(repository, "c-1")
    repository.claim("c-1", Phase.EXTRACT, LEASE_S)
    clock.advance(LEASE_S + 1)
    call = repository.claim("c-1", Phase.EXTRACT, LEASE_S)
    assert call is not None and call.attempts == 2, "extraction's second try"


def test_release_makes_a_held_call_claimable_at_once(repository):
    register(repository, "c-1")
    repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S)
    repository.release("c-1")
    call = repository.get("c-1")
    assert (call.status, call.lease_until) == ("processing", None)
    again = repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S)
    assert again is not None and again.attempts == 2


def test_release_all_drops_every_lease_and_restarts_the_queue_timer(repository, clock):
    for call_id in ("c-1", "c-2", "c-3"):
        register(repository, call_id)
    repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S)
    repository.claim("c-2", Phase.TRANSCRIBE, LEASE_S)
    clock.advance(10)
    assert repository.release_all() == 2
    for call_id in ("c-1", "c-2"):
        call = repository.get(call_id)
        assert (call.lease_until, call.enqueued_at) == (None, clock.now)
        assert repository.claim(call_id, Phase.TRANSCRIBE, LEASE_S) is not None
    assert repository.get("c-3").enqueued_at == clock.now - timedelta(seconds=10), "no lease, untouched"


def test_extracting_to_done_on_finish_with_the_ticket_and_merged_timings(repository, clock):
    register(repository, "c-1")
    transcribed(repository, "c-1")
    repository.claim("c-1", Phase.EXTRACT, LEASE_S)
    repository.heartbeat("c-1", "extract", {"extract": {"completed": 0, "total": 1}}, LEASE_S)
    ticket = Ticket({}, [DepartmentSuggestion("市城管局", 0.9)], review="check")
    assert repository.finish("c-1", ticket, {"extract": 0.5}) == [], "no webhook URL: nothing to announce"
    call = repository.get("c-1")
    assert (call.status, call.stage, call.lease_until, call.finished_at) == ("done", None, None, clock.now)
    assert call.progress == {}
    assert call.ticket == call.machine_ticket == ticket
    assert (call.review, call.department) == ("check", "市城管局")
    assert call.timings == {"transcribe": 1.0, "extract": 0.5}
    assert events(repository, "c-1")[-1] == "done"


def test_done_is_final_finish_and_fail_again_change_nothing(repository):
    register(repository, "c-1")
    transcribed(repository, "c-1")
    repository.claim("c-1", Phase.EXTRACT, LEASE_S)
    repository.finish("c-1", None, {})
    assert repository.finish("c-1", Ticket({}), {}) == []
    assert repository.fail("c-1", "ProcessingError", "late") == []
    assert repository.claim("c-1", Phase.EXTRACT, LEASE_S) is None
    assert repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S) is None
    call = repository.get("c-1")
    assert (call.status, call.ticket, call.error) == ("done", None, None)


@pytest.mark.parametrize("claimed", [False, True], ids=["queued", "processing"])
def test_queued_or_processing_to_failed_with_the_reason(repository, clock, claimed):
    register(repository, "c-1")
    if claimed:
        repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S)
    repository.fail("c-1", "NoSpeechError", "no speech found in 3.0 s of audio")
    call = repository.get("c-1")
    assert (call.status, call.error_kind, call.error) == (
        "failed",
        "NoSpeechError",
        "no speech found in 3.0 s of audio",
    )
    assert (call.lease_until, call.finished_at) == (None, clock.now)
    assert events(repository, "c-1")[-1] == "failed"


def test_failed_is_final_nothing_moves_it(repository):
    register(repository, "c-1")
    repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S)
    repository.fail("c-1", "AudioDecodeError", "not audio")
    assert repository.fail("c-1", "ProcessingError", "again") == []
    assert not repository.save_transcript("c-1", {"turns": []}, {}, 1.0)
    assert repository.finish("c-1", Ticket({}), {}) == []
    assert repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S) is None
    call = repository.get("c-1")
    assert (call.status, call.error_kind, call.transcript, call.ticket) == ("failed", "AudioDecodeError", None, None)


def test_queued_unclaimed_too_long_to_stale_once_per_wait(repository, clock):
    register(repository, "c-1", priority="backlog")
    clock.advance(99)
    assert repository.stale(100) == []
    clock.advance(2)
    assert repository.stale(100) == [("c-1", Phase.TRANSCRIBE, "backlog")]
    assert repository.get("c-1").enqueued_at == clock.now
    assert repository.stale(100) == [], "the timer restarted: the next sweep waits again"
    assert events(repository, "c-1")[-1] == "requeued"


def test_transcript_saved_but_never_extracted_to_stale_for_extraction(repository, clock):
    register(repository, "c-1")
    transcribed(repository, "c-1")
    clock.advance(101)
    assert repository.stale(100) == [("c-1", Phase.EXTRACT, "live")]


def test_held_lease_is_not_stale_until_it_expires(repository, clock):
    register(repository, "c-1")
    repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S)
    clock.advance(LEASE_S - 1)
    assert repository.stale(1) == [], "a worker is on it"
    clock.advance(2)
    assert repository.stale(10_000) == [("c-1", Phase.TRANSCRIBE, "live")]


def test_finished_calls_are_never_stale(repository, clock):
    register(repository, "c-1")
    register(repository, "c-2")
    transcribed(repository, "c-1")
    repository.claim("c-1", Phase.EXTRACT, LEASE_S)
    repository.finish("c-1", None, {})
    repository.fail("c-2", "NoSpeechError", "silence")
    clock.advance(LEASE_S * 10)
    assert repository.stale(1) == []


def test_claim_of_an_unknown_phase_is_an_error(repository):
    register(repository, "c-1")
    with pytest.raises(ValueError, match="unknown phase"):
        repository.claim("c-1", "summarise", LEASE_S)
    assert repository.get("c-1").attempts == 0


def test_a_call_pushed_without_a_webhook_url_queues_no_delivery(repository):
    key_id = webhook_key(repository, None)
    register(repository, "c-1", pushed_by=key_id)
    assert repository.fail("c-1", "NoSpeechError", "silence") == []


@pytest.mark.parametrize("outcome", ["done", "failed"])
def test_final_status_to_pending_delivery_due_after_the_fallback(repository, clock, outcome):
    key_id = webhook_key(repository, "https://receiver.example/hooks")
    register(repository, "c-1", pushed_by=key_id)
    if outcome == "done":
        transcribed(repository, "c-1")
        repository.claim("c-1", Phase.EXTRACT, LEASE_S)
        [delivery_id] = repository.finish("c-1", None, {})
    else:
        [delivery_id] = repository.fail("c-1", "NoSpeechError", "silence")
    delivery, secret = repository.delivery(delivery_id)
    assert (delivery.call_id, delivery.event, delivery.state, delivery.attempts) == (
        "c-1",
        f"call.{outcome}",
        "pending",
        0,
    )
    assert delivery.url == "https://receiver.example/hooks" and secret
    assert delivery.next_attempt_at == clock.now + timedelta(seconds=WEBHOOK_FALLBACK_S)
    # sent at once by the job that finished the call; the sweeper only picks it up if that message is lost
    assert repository.due_deliveries() == []
    clock.advance(WEBHOOK_FALLBACK_S)
    assert repository.due_deliveries() == [delivery_id]


def pending_delivery(repository) -> str:
    key_id = webhook_key(repository, "https://receiver.example/hooks")
    register(repository, "c-1", pushed_by=key_id)
    [delivery_id] = repository.fail("c-1", "NoSpeechError", "silence")
    return delivery_id


def attempt(delivery_id: str, number: int, status: int | None, *, delivered: bool, retry: bool) -> DeliveryAttempt:
    error = None if delivered else f"HTTP {status}"
    return DeliveryAttempt(
        delivery_id, "https://receiver.example/hooks", "call.failed", number, status, error, 0.1, delivered, retry
    )


def test_pending_to_delivered_on_a_delivered_attempt(repository, clock):
    delivery_id = pending_delivery(repository)
    repository.record_attempt(delivery_id, attempt(delivery_id, 1, 204, delivered=True, retry=False), None, False)
    delivery, _ = repository.delivery(delivery_id)
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 204)
    assert (delivery.delivered_at, delivery.next_attempt_at, delivery.last_error) == (clock.now, None, None)
    clock.advance(WEBHOOK_FALLBACK_S * 10)
    assert repository.due_deliveries() == []
    [(_, attempts)] = repository.webhook_log("c-1")
    assert [(row.attempt, row.status_code, row.delivered) for row in attempts] == [(1, 204, True)]


def test_pending_to_pending_due_later_on_a_retryable_attempt(repository, clock):
    delivery_id = pending_delivery(repository)
    retry_at = clock.now + timedelta(seconds=30)
    repository.record_attempt(delivery_id, attempt(delivery_id, 1, 503, delivered=False, retry=True), retry_at, False)
    delivery, _ = repository.delivery(delivery_id)
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("pending", 1, retry_at)
    assert (delivery.last_status_code, delivery.last_error) == (503, "HTTP 503")
    clock.advance(29)
    assert repository.due_deliveries() == []
    clock.advance(1)
    assert repository.due_deliveries() == [delivery_id]


def test_pending_to_failed_when_given_up(repository, clock):
    delivery_id = pending_delivery(repository)
    repository.record_attempt(delivery_id, attempt(delivery_id, 1, 410, delivered=False, retry=False), None, True)
    delivery, _ = repository.delivery(delivery_id)
    assert (delivery.state, delivery.next_attempt_at, delivery.last_status_code) == ("failed", None, 410)
    clock.advance(WEBHOOK_FALLBACK_S * 10)
    assert repository.due_deliveries() == []


def test_an_attempt_on_an_unknown_delivery_is_ignored(repository):
    missing = "00000000-0000-4000-8000-000000000000"
    repository.record_attempt(missing, attempt(missing, 1, 204, delivered=True, retry=False), None, False)
    assert repository.delivery(missing) is None


def test_a_lease_ending_now_is_still_held_and_free_a_moment_later(repository, clock):
    register(repository, "c-1")
    with repository.sessions.begin() as session:
        session.execute(update(Call).where(Call.id == "c-1").values(status="processing", lease_until=clock.now))
    assert repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S) is None
    clock.advance(0.001)
    assert repository.claim("c-1", Phase.TRANSCRIBE, LEASE_S) is not None
