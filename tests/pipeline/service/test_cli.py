"""The service's admin commands through the real `hotline` entry point: `db upgrade`, `keys create` (the
key alone on the last line, for scripts), `keys list` (never the key), `keys revoke`; bad input exits 2 with
one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.service.keys import KeyStore
from pipeline.service.wiring import open_repository
from pipeline.settings import Settings

HOTLINE = Path(sys.executable).with_name("hotline")


def hotline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    env.pop("HOTLINE_REDIS_URL", None)
    return subprocess.run([str(HOTLINE), *args], env=env, capture_output=True, text=True, timeout=120)


def principal(tmp_path: Path, key: str):
    settings = Settings(_env_file=None, data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/cli.db")
    engine, repository = open_repository(settings)
    try:
        return KeyStore(repository.sessions).authenticate(key)
    finally:
        engine.dispose()


def test_keys_are_created_listed_and_revoked(tmp_path):
    assert hotline(tmp_path, "db", "upgrade").returncode == 0

    created = hotline(tmp_path, "keys", "create", "--role", "operator", "--name", "张三", "--agent-id", "A1024")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert created.stdout.strip() == key, "the key alone on stdout"
    who = principal(tmp_path, key)
    assert (who.name, who.role, who.agent_id) == ("张三", "operator", "A1024")

    listed = [json.loads(line) for line in hotline(tmp_path, "keys", "list").stdout.splitlines()]
    assert [(row["name"], row["role"], row["agent_id"], row["state"]) for row in listed] == [
        ("张三", "operator", "A1024", "active")
    ]
    assert key not in json.dumps(listed, ensure_ascii=False)

    assert hotline(tmp_path, "keys", "revoke", str(listed[0]["id"])).returncode == 0
    assert principal(tmp_path, key) is None
    again = hotline(tmp_path, "keys", "revoke", str(listed[0]["id"]))
    assert again.returncode == 1 and again.stderr.count("\n") == 1


def test_an_operator_key_names_its_team(tmp_path):
    created = hotline(tmp_path, "keys", "create", "--role", "operator", "--name", "李四", "--team", "二班")
    assert created.returncode == 0, created.stderr
    who = principal(tmp_path, created.stdout.strip())
    assert (who.agent_id, who.team) == (None, "二班")
    [listed] = [json.loads(line) for line in hotline(tmp_path, "keys", "list").stdout.splitlines()]
    assert listed["team"] == "二班"


def test_bad_key_requests_exit_2_with_one_line(tmp_path):
    for args in (
        ("keys", "create", "--role", "boss"),
        ("keys", "create", "--role", "operator", "--agent-id", "A" * 65),
        ("keys", "create", "--role", "telephony", "--webhook-url", "ftp://pbx.example/hook"),
        ("keys", "create", "--role", "telephony", "--team", "二班"),
        ("keys", "create", "--role", "operator", "--team", "班" * 65),
    ):
        done = hotline(tmp_path, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        assert done.stdout == ""
