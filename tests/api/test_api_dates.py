"""One meaning for every date filter: a call is dated by when it started (what the pages show), or by when it was
received when the telephony system pushed no start; a date (YYYY-MM-DD) is a whole local day, at either end;
a moment keeps its old meaning (`until` excludes it)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from service_builders import auth, make_settings, new_key, quiet_services

from api.main import create_app
from pipeline.service.recordings import StoredRecording
from pipeline.service.repository import NewCall, Phase

BEIJING = timezone(timedelta(hours=8))
STARTS = {
    "morning": datetime(2018, 6, 11, 10, 0, tzinfo=BEIJING),
    "late": datetime(2018, 6, 11, 23, 30, tzinfo=BEIJING),
    "after-midnight": datetime(2018, 6, 12, 0, 10, tzinfo=BEIJING),  # still the 11th in UTC
    "no-start": None,  # dated by when it was received: today
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("dates")
    services = quiet_services(make_settings(tmp_path, f"sqlite:///{tmp_path / 'dates.db'}"))
    repository = services.repository
    for call_id, started in STARTS.items():
        new = NewCall(call_id, None, "A7", started, {}, "live", "audio/wav")
        repository.register(new, StoredRecording(f"{call_id:0>64}"[-64:], 4), pushed_by=None)
        assert repository.claim(call_id, Phase.TRANSCRIBE, 60)
        repository.save_transcript(call_id, {"turns": []}, {}, 1.0)
        assert repository.claim(call_id, Phase.EXTRACT, 60)
        repository.finish(call_id, None, {})
    key = new_key(services, "qa")
    with TestClient(create_app(services=services)) as client:
        client.headers.update(auth(key))
        yield client
    services.engine.dispose()


def found(client, **params) -> set[str]:
    response = client.get("/v1/calls", params=params)
    assert response.status_code == 200, response.text
    return {item["call_id"] for item in response.json()["items"]}


def test_a_date_filter_finds_the_calls_that_started_that_day_inclusive(client):
    # the QA list shows each call's start: filtering on that day must find them (it used to date them by arrival)
    assert found(client, since="2018-06-11", until="2018-06-11") == {"morning", "late"}
    assert found(client, since="2018-06-12", until="2018-06-12") == {"after-midnight"}
    assert found(client, until="2018-06-11") == {"morning", "late"}


def test_a_moment_keeps_its_meaning_until_excludes_it(client):
    assert found(client, since="2018-06-11T10:00:00+08:00", until="2018-06-11T23:30:00") == {"morning"}
    assert found(client, since="2018-06-11T15:30:00Z") == {"late", "after-midnight", "no-start"}


def test_a_call_without_a_start_is_dated_by_when_it_was_received(client):
    today = datetime.now(UTC).astimezone(BEIJING).date().isoformat()
    assert found(client, since=today) == {"no-start"}


def test_the_qa_summary_counts_the_same_calls(client):
    summary = client.get("/v1/audits/summary", params={"since": "2018-06-11", "until": "2018-06-11"}).json()
    assert [(row["agent_id"], row["calls"]) for row in summary] == [("A7", 2)]


def test_a_date_that_does_not_exist_is_refused(client):
    response = client.get("/v1/calls", params={"until": "2018-02-30"})
    assert response.status_code == 422
    assert "until" in response.json()["error"]["message"]
