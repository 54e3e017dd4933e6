"""What the server says about itself while it runs: one log line per request (no query values: they can carry a
phone number), the lifecycle loggers at INFO under `hotline serve`'s logging, and readiness on a fresh data
directory, where the bundled model is prepared at start-up instead of by the first call."""

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_builders import auth, make_settings, new_key, quiet_services

from api.main import create_app
from api.requestlog import request_line
from asr.weights import packaged_base_available

ROOT = Path(__file__).resolve().parents[2]
CALLER = "13912345678"


def test_each_request_logs_one_line_without_query_values(tmp_path, caplog):
    services = quiet_services(make_settings(tmp_path, f"sqlite:///{tmp_path / 'log.db'}"))
    key = new_key(services, "qa")
    with TestClient(create_app(services=services)) as client, caplog.at_level(logging.INFO, "hotline.requests"):
        assert client.get("/v1/calls", params={"q": CALLER, "since": "2026-01-01"}, headers=auth(key)).is_success
        assert client.get("/v1/calls/nobody", headers=auth(key)).status_code == 404
        assert client.get("/healthz").status_code == 200
    services.engine.dispose()

    lines = [record.getMessage() for record in caplog.records if record.name == "hotline.requests"]
    assert [line.rsplit(" ", 2)[0] for line in lines] == [
        "GET /v1/calls?q&since 200",
        "GET /v1/calls/nobody 404",
        "GET /healthz 200",
    ]
    assert all(line.endswith(" ms") for line in lines)
    assert CALLER not in caplog.text and "2026" not in caplog.text


def test_a_request_line_names_each_parameter_once():
    assert request_line("GET", "/v1/calls", b"status=done&status=failed&q=", 200, 0.0125) == (
        "GET /v1/calls?status&q 200 12 ms"
    )


def test_serve_writes_the_lifecycle_lines_at_info_when_other_logs_are_at_warning():
    script = """
import logging, logging.config
from api.server import log_config
logging.config.dictConfig(log_config(logging.WARNING))
logging.getLogger("hotline.requests").info("GET /healthz 200 1 ms")
logging.getLogger("hotline.calls").info("call c-1 transcribe: transcribed in 1.00 s")
logging.getLogger("pipeline.service.jobs").info("not shown")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "GET /healthz 200 1 ms" in result.stderr
    assert "call c-1 transcribe: transcribed in 1.00 s" in result.stderr
    assert "not shown" not in result.stderr


@pytest.mark.skipif(not packaged_base_available(), reason="the packaged Whisper base is not installed")
def test_a_fresh_data_directory_is_ready_once_the_model_is_prepared_at_start_up(tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fresh.db'}")
    model_bin = settings.resolved_model_cache / "whisper-base-ct2" / "model.bin"
    assert not model_bin.exists()
    with TestClient(create_app(settings)) as client:  # the app builds its own services, as `hotline serve`
        deadline = time.monotonic() + 120
        while (ready := client.get("/readyz")).status_code != 200:
            assert ready.json()["checks"]["models"] != "ok"
            assert time.monotonic() < deadline, ready.json()
            time.sleep(0.2)
    assert ready.json()["checks"]["models"] == "ok"
    assert model_bin.is_file(), "no call was pushed: the start-up prepared it"
