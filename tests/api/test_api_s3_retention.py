"""The service on an S3-compatible store (a real SeaweedFS on loopback): a pushed recording lands in the
bucket, is processed from there and played back by range; and the retention setting deletes the audio of
finished calls (the bucket object goes, the call and its transcript stay, playback answers 410)."""

import time
import uuid

import pytest
from fastapi.testclient import TestClient
from seaweed import running_seaweed
from service_builders import auth, in_process_services, make_settings, new_key, push, wait_for

from api.main import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    with running_seaweed(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def s3_settings(tmp_path, seaweed, **overrides):
    store = {
        "kind": "s3",
        "bucket": "hotline-service-test",
        "endpoint_url": seaweed.endpoint_url,
        "access_key": seaweed.access_key,
        "secret_key": seaweed.secret_key,
        "prefix": f"run-{uuid.uuid4().hex[:8]}/",
    }
    return make_settings(tmp_path, f"sqlite:///{tmp_path / 'hotline.db'}", store=store, **overrides)


def bucket_keys(seaweed, settings) -> list[str]:
    client = seaweed.client()
    try:
        listed = client.list_objects_v2(Bucket=settings.store.bucket, Prefix=settings.store.prefix)
        return [item["Key"] for item in listed.get("Contents", [])]
    finally:
        client.close()


def test_a_call_is_stored_processed_and_played_back_from_s3(tmp_path, seaweed, engines, demo_stereo):
    settings = s3_settings(tmp_path, seaweed)
    services = in_process_services(settings, engines)
    keys = {role: new_key(services, role) for role in ("telephony", "qa")}
    with TestClient(create_app(services=services)) as client:
        assert push(client, keys["telephony"], demo_stereo, "s3-1").status_code == 202
        stored = bucket_keys(seaweed, settings)
        assert len(stored) == 1 and stored[0].endswith(services.repository.get("s3-1").recording_key)
        assert not (settings.data_dir / "recordings").exists(), "nothing on the API machine's disk"
        done = wait_for(client, "s3-1", keys["telephony"])
        assert done["status"] == "done", done
        turns = client.get("/v1/calls/s3-1/transcript", headers=auth(keys["qa"])).json()["turns"]
        assert any("热线" in turn["text"] for turn in turns)
        part = client.get("/v1/calls/s3-1/audio", headers={**auth(keys["qa"]), "Range": "bytes=0-11"})
        assert part.status_code == 206 and part.content == demo_stereo.read_bytes()[:12]
    services.queue.stop()
    services.engine.dispose()


def test_retention_deletes_the_audio_of_finished_calls_and_keeps_the_rest(tmp_path, seaweed, engines, demo_stereo):
    import numpy as np
    from conftest import write_audio

    # 0.3 s of retention: the in-process sweeper (every 0.5 s) deletes a finished call's audio almost at once
    settings = s3_settings(tmp_path, seaweed, retention_days=0.3 / 86400, worker={"sweep_interval_s": 0.5})
    services = in_process_services(settings, engines)
    keys = {role: new_key(services, role) for role in ("telephony", "qa")}
    silent = write_audio(tmp_path / "silent.wav", np.zeros((2, 16000), dtype=np.float32), 8000)
    with TestClient(create_app(services=services)) as client:
        for call_id in ("old-1", "old-2"):  # the same recording twice: one object, two calls
            assert push(client, keys["telephony"], silent, call_id).status_code == 202
        assert len(bucket_keys(seaweed, settings)) == 1
        for call_id in ("old-1", "old-2"):
            assert wait_for(client, call_id, keys["telephony"])["status"] == "failed"
        deadline = time.monotonic() + 30
        while bucket_keys(seaweed, settings) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert bucket_keys(seaweed, settings) == [], "the recording is deleted from the bucket"
        for call_id in ("old-1", "old-2"):
            status = client.get(f"/v1/calls/{call_id}", headers=auth(keys["qa"])).json()
            assert status["status"] == "failed" and status["audio_available"] is False
            gone = client.get(f"/v1/calls/{call_id}/audio", headers=auth(keys["qa"]))
            assert gone.status_code == 410 and gone.json()["error"]["code"] == "audio_deleted"
    services.queue.stop()
    services.engine.dispose()
