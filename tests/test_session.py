"""setup(): the profile switch it offers and the memory warning it gives before a model is loaded."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bmcourse import session
from bmcourse.models import offline_model_path


def settings(profile: str) -> session.Settings:
    return session.Settings(profile=profile, device="cpu", seed=0, offline=True, data_dir=None,
                            cache_dir=Path("/tmp"))


def test_full_profile_offers_the_smoke_switch_and_smoke_the_full_one():
    full = session.describe(settings("full"), {})
    smoke = session.describe(settings("smoke"), {})
    assert 'setup(profile="smoke")' in full and "SMOKE PROFILE" not in full
    assert smoke.startswith("SMOKE PROFILE") and 'setup(profile="full")' in smoke


def test_setup_profile_argument_sets_the_profile_every_cell_reads(monkeypatch):
    monkeypatch.setenv("BMCOURSE_PROFILE", "full")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    chosen = session.setup(seed=0, verbose=False, profile="smoke")
    assert chosen.smoke and os.environ["BMCOURSE_PROFILE"] == "smoke"


def test_parameters_are_read_from_the_weights_without_loading():
    folder = offline_model_path()
    count = session.model_parameters({"name": "all-MiniLM-L6-v2"}, folder)
    assert 22_000_000 < count < 23_000_000  # all-MiniLM-L6-v2 has 22.7 M parameters
    assert session.model_parameters({"name": "bert-base-cased"}) == 108_310_272
    assert session.model_parameters({"name": "someone/unknown"}) is None


@pytest.mark.parametrize("gigabytes, warns", [(1.5, True), (2.6, True), (3.0, False), (None, False)])
def test_memory_warning_when_bert_base_would_not_fit(gigabytes, warns):
    available = None if gigabytes is None else int(gigabytes * 1e9)
    line = session.memory_warning(108_310_272, available, "bert-base-cased")
    assert (line is not None) == warns
    if warns:  # a Binder pod of 1-2 GB: says what is needed, what is free and what to do
        assert "2.7 GB" in line and f"{gigabytes:.1f} GB is free" in line and "BMCOURSE_MODEL=offline" in line


def test_the_warning_is_printed_by_describe():
    line = session.memory_warning(108_310_272, 10**9, "bert-base-cased")
    assert line in session.describe(settings("full"), {}, "bert-base-cased", line).splitlines()


def test_available_memory_is_a_positive_number_of_bytes():
    assert session.available_memory() > 0
