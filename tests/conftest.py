"""Fixtures for the unit tests."""
from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

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


# --- no test leaks environment variables or torch/random global state -----------------------

@dataclass
class GlobalState:
    """What a test could change for every later test: the environment, torch threads and
    determinism switches, and the python/numpy/torch random generators."""

    environ: dict[str, str]
    threads: int
    deterministic: bool
    warn_only: bool
    cudnn: tuple[bool, bool]
    python_rng: object
    numpy_rng: object
    torch_rng: torch.Tensor


def snapshot_globals() -> GlobalState:
    """Record the global state (cheap: a dict copy and three small RNG states)."""
    return GlobalState(environ=dict(os.environ), threads=torch.get_num_threads(),
                       deterministic=torch.are_deterministic_algorithms_enabled(),
                       warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
                       cudnn=(torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic),
                       python_rng=random.getstate(), numpy_rng=np.random.get_state(),
                       torch_rng=torch.get_rng_state())


def restore_globals(state: GlobalState) -> None:
    """Put back what :func:`snapshot_globals` recorded (the whole environment, not single keys)."""
    if dict(os.environ) != state.environ:
        os.environ.clear()
        os.environ.update(state.environ)
    if torch.get_num_threads() != state.threads:
        torch.set_num_threads(state.threads)
    torch.use_deterministic_algorithms(state.deterministic, warn_only=state.warn_only)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = state.cudnn
    random.setstate(state.python_rng)
    np.random.set_state(state.numpy_rng)
    torch.set_rng_state(state.torch_rng)


@pytest.fixture(autouse=True)
def isolated_globals() -> Iterator[None]:
    """Every test starts and leaves with the same environment and torch/random state
    (``bmcourse.setup()`` and ``seed_everything`` change them on purpose)."""
    state = snapshot_globals()
    try:
        yield
    finally:
        restore_globals(state)


# --- a tiny randomly initialised model with the packaged tokenizer -------------------------

@pytest.fixture(scope="session")
def packaged_tokenizer() -> Any:
    """The tokenizer of the packaged all-MiniLM-L6-v2 (uncased WordPiece, pad id 0); loads in a second."""
    from transformers import AutoTokenizer

    from bmcourse.models import offline_model_path

    return AutoTokenizer.from_pretrained(offline_model_path(), local_files_only=True)


TINY_SIZES = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
              "intermediate_size": 64, "max_position_embeddings": 128}


@pytest.fixture(scope="session")
def tiny_model(packaged_tokenizer: Any) -> Callable[..., Any]:
    """A factory ``tiny_model(labels, kind="token", seed=0)``: a one-layer, 32-wide BERT with a
    token- (or ``kind="sequence"``) classification head, randomly initialised from ``seed``
    without touching the global RNG, sized for the packaged tokenizer's vocabulary.

    Trains in a fraction of a second per step on CPU, so loop, early-stopping and checkpoint
    tests need not load the real encoder."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, BertConfig

    def make(labels: Sequence[str], kind: str = "token", seed: int = 0, **overrides: Any) -> Any:
        names = list(labels)
        config = BertConfig(vocab_size=packaged_tokenizer.vocab_size,
                            pad_token_id=packaged_tokenizer.pad_token_id,
                            num_labels=len(names), id2label=dict(enumerate(names)),
                            label2id={n: i for i, n in enumerate(names)}, **{**TINY_SIZES, **overrides})
        auto = {"token": AutoModelForTokenClassification,
                "sequence": AutoModelForSequenceClassification}[kind]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return auto.from_config(config)

    return make
