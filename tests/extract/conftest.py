"""Fixtures for the extraction tests: call metadata and the shared gold calls."""

import json
from pathlib import Path

import pytest
from extract_builders import CALL_START

from models import CallMeta


@pytest.fixture
def meta() -> CallMeta:
    return CallMeta(call_id="t-1", caller_number="17868549822", agent_id="2198", started_at=CALL_START)


@pytest.fixture(scope="session")
def gold_calls(shared_data: Path) -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted((shared_data / "calls").glob("dev-*.json"))]
