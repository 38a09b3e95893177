"""Fixtures for the unit tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA_HINT = "set BMCOURSE_DATA_DIR=../shared/data to run the real-data tests"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    """A clean bmcourse environment: full profile, offline, no data folder; returns monkeypatch."""
    for name in ("BMCOURSE_PROFILE", "BMCOURSE_DATA_DIR", "BMCOURSE_MODEL", "BMCOURSE_DEVICE",
                 "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BMCOURSE_PROFILE", "full")
    monkeypatch.setenv("BMCOURSE_OFFLINE", "1")
    return monkeypatch


@pytest.fixture
def real_data_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real data folder from BMCOURSE_DATA_DIR; skips (or fails in CI) when unset."""
    value = os.environ.get("BMCOURSE_DATA_DIR", "")
    if not value:
        if os.environ.get("BMCOURSE_REQUIRE_REAL_DATA") == "1":
            pytest.fail("BMCOURSE_REQUIRE_REAL_DATA=1 but BMCOURSE_DATA_DIR is unset")
        pytest.skip(SHARED_DATA_HINT)
    monkeypatch.setenv("BMCOURSE_PROFILE", "full")
    monkeypatch.setenv("BMCOURSE_OFFLINE", "1")
    return Path(value)


@pytest.fixture
def data_folder(env, tmp_path: Path) -> Path:
    """An empty data folder set as BMCOURSE_DATA_DIR."""
    env.setenv("BMCOURSE_DATA_DIR", str(tmp_path))
    return tmp_path
