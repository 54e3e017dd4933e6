"""Fuzz every operation of the API's own OpenAPI schema with Schemathesis, as admin (who may call all of
them), on a temporary SQLite database: whatever the input, the answer is never a 5xx. No job runs and no
model loads: the queue only records what it is handed, and there is no job runner (so no sweeper)."""

import numpy as np
import pytest
import schemathesis
from conftest import tone, write_audio
from fastapi.testclient import TestClient
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from service_builders import auth, make_settings, new_key, push, quiet_services

from api.main import create_app
from pipeline.service.database import ApiKey

SEED_CALL = "fuzz-seed-1"


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory):
    """The app on a fresh SQLite database with a recording queue, an admin key, and one call pushed."""
    tmp_path = tmp_path_factory.mktemp("fuzz")
    # /readyz checks that the bundled model is on disk; a placeholder file keeps it "ready" (nothing loads it).
    model_cache = tmp_path / "models"
    (model_cache / "whisper-base-ct2").mkdir(parents=True)
    (model_cache / "whisper-base-ct2" / "model.bin").write_bytes(b"")
    settings_ = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'fuzz.db'}", max_upload_mb=1, model_cache_dir=model_cache
    )
    services = quiet_services(settings_)
    keys = {role: new_key(services, role) for role in ("telephony", "admin")}
    # A second admin key that DELETE /v1/keys/{id} may revoke in place of the one the fuzzer uses.
    new_key(services, "admin", "decoy-admin")
    with services.repository.sessions() as session:
        key_ids = {row.name: row.id for row in session.query(ApiKey).all()}
    app = create_app(services=services)
    wav = write_audio(tmp_path / "seed.wav", np.stack([tone(1.0, 8000), tone(1.0, 8000, 660.0)]), 8000)
    with TestClient(app) as client:
        response = push(client, keys["telephony"], wav, SEED_CALL, caller_number="13800007731")
        assert response.status_code == 202, response.text
        assert client.get(f"/v1/calls/{SEED_CALL}", headers=auth(keys["admin"])).status_code == 200
    yield {
        "app": app,
        "services": services,
        "admin": keys["admin"],
        "admin_id": key_ids["admin-test"],
        "decoy_id": key_ids["decoy-admin"],
    }
    services.engine.dispose()


# The operations come from the app's own OpenAPI document (building an app loads nothing and connects to
# nothing until its lifespan runs); each case is sent to the fixture's app, which has the test's services.
schema = schemathesis.openapi.from_dict(create_app().openapi())


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, the call id in the path is the seeded call's, so handlers get past "not found"."""
    if not path_parameters or "call_id" not in path_parameters:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, "call_id": SEED_CALL}])


@schema.parametrize()
@settings(max_examples=30, deadline=None)
def test_no_input_makes_the_api_fail_with_a_server_error(case, fuzz_service):
    if case.operation.method.upper() == "DELETE" and case.path_parameters.get("key_id") == fuzz_service["admin_id"]:
        case.path_parameters["key_id"] = fuzz_service["decoy_id"]  # keep the fuzzer's own key valid
    response = case.call(app=fuzz_service["app"], headers=auth(fuzz_service["admin"]))
    assert response.status_code < 500, f"{case.operation.method.upper()} {case.formatted_path}: {response.text[:300]}"
    case.validate_response(response, checks=[not_a_server_error])
