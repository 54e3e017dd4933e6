"""POST /v1/reports makes one report at a time per process: a report reads every ticket of its period and its
baseline (a year's over the Haikou history took 37 s of a core), so a second request while one is being made is
a 429 with Retry-After, not a second core held as long. SQLite, no calls, a queue that runs nothing."""

import threading

from fastapi.testclient import TestClient
from service_builders import auth, make_settings, new_key, quiet_services

from api.main import create_app
from api.routes import reports

WEEK = {"kind": "weekly", "start": "2018-05-14", "last_day": "2018-05-20"}


def test_a_report_asked_for_while_one_is_being_made_is_a_429_and_the_next_one_is_made(tmp_path):
    services = quiet_services(make_settings(tmp_path, f"sqlite:///{tmp_path / 'reports.db'}"))
    qa = auth(new_key(services, "qa", "qa-reports"))
    try:
        with TestClient(create_app(services=services)) as client:
            entered, release = threading.Event(), threading.Event()
            generate = reports._reports

            def slow_reports(services):
                """The real reports, whose first report waits inside its making until the test lets it go."""
                made = generate(services)
                inner = made.generate

                def held(*args):
                    entered.set()
                    release.wait(30)
                    return inner(*args)

                made.generate = held
                return made

            reports._reports = slow_reports
            try:
                first: dict = {}
                making = threading.Thread(
                    target=lambda: first.setdefault("answer", client.post("/v1/reports", headers=qa, json=WEEK))
                )
                making.start()
                assert entered.wait(30)
                reports._reports = generate
                busy = client.post("/v1/reports", headers=qa, json={**WEEK, "kind": "monthly"})
                release.set()
                making.join(60)
            finally:
                reports._reports = generate
                release.set()
            assert busy.status_code == 429, busy.text
            assert busy.json()["error"]["code"] == "busy" and int(busy.headers["Retry-After"]) > 0
            assert first["answer"].status_code == 201
            # refused, so not made: only the first report is stored; and the next request is served
            assert [item["kind"] for item in client.get("/v1/reports", headers=qa).json()] == ["weekly"]
            again = client.post("/v1/reports", headers=qa, json={**WEEK, "kind": "monthly"})
            assert again.status_code == 201, again.text
    finally:
        services.engine.dispose()
