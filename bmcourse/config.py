"""Run settings read from the environment: profile, device, seeding, offline switch, data and cache
folders. A leaf module: it imports nothing else from ``bmcourse`` but the error type and ``tr``.

Environment variables: ``BMCOURSE_PROFILE`` (smoke | full), ``BMCOURSE_DEVICE``,
``BMCOURSE_DATA_DIR``, ``BMCOURSE_CACHE_DIR``, ``BMCOURSE_OFFLINE`` (``HF_HUB_OFFLINE``
counts too) and ``BMCOURSE_MODEL``.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

from .errors import BmcourseError
from .i18n import tr as _

PROFILES = ("smoke", "full")
SMOKE_THREADS = 2
_TRUE = {"1", "true", "yes", "on"}
T = TypeVar("T")


def profile() -> str:
    """The run profile: ``smoke`` (tiny, for tests) or ``full`` (the real course, default)."""
    value = os.environ.get("BMCOURSE_PROFILE", "full").strip().lower() or "full"
    if value not in PROFILES:
        raise BmcourseError(_("BMCOURSE_PROFILE={value} is not a profile").format(value=repr(value)),
                            fix=_("set BMCOURSE_PROFILE to one of {profiles}").format(profiles=", ".join(PROFILES)))
    return value


def is_smoke() -> bool:
    """True under the smoke profile (embedded samples, tiny budgets)."""
    return profile() == "smoke"


def by_profile(smoke: T, full: T) -> T:
    """Pick the value for the current profile, e.g. ``by_profile(smoke=20, full=2000)``."""
    return smoke if is_smoke() else full


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_offline() -> bool:
    """True when ``BMCOURSE_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to a true value."""
    return _env_true("BMCOURSE_OFFLINE") or _env_true("HF_HUB_OFFLINE")


def data_dir() -> Path | None:
    """The local data folder from ``BMCOURSE_DATA_DIR``, or None when unset."""
    value = os.environ.get("BMCOURSE_DATA_DIR", "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise BmcourseError(_("BMCOURSE_DATA_DIR={value} is not a folder").format(value=repr(value)),
                            fix=_("point BMCOURSE_DATA_DIR at a folder holding <name>/train.jsonl "
                                  "(for example ../shared/data), or unset it"))
    return path.resolve()


def cache_dir() -> Path:
    """Where downloads and checkpoints go: ``BMCOURSE_CACHE_DIR`` or ``~/.cache/bmcourse``."""
    value = os.environ.get("BMCOURSE_CACHE_DIR", "").strip()
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "bmcourse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def gpu_kind() -> str | None:
    """The GPU torch can use here: ``"cuda"``, ``"mps"`` or None (the one place that asks)."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else None


def gpu_name() -> str | None:
    """The first CUDA GPU's name, the Apple GPU for MPS, or None."""
    kind = gpu_kind()
    if kind == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    return "Apple GPU (MPS)" if kind == "mps" else None


def device() -> str:
    """The compute device: ``BMCOURSE_DEVICE`` if set, else cuda > mps > cpu."""
    wanted = os.environ.get("BMCOURSE_DEVICE", "").strip().lower()
    if wanted:
        if wanted.startswith("cuda") and gpu_kind() != "cuda":
            raise BmcourseError(_("BMCOURSE_DEVICE={wanted} but no CUDA device is visible").format(wanted=wanted),
                                fix=_("unset BMCOURSE_DEVICE or set it to cpu"))
        return wanted
    return gpu_kind() or "cpu"


def seed_everything(seed: int = 0) -> None:
    """Seed python, numpy and torch, ask for deterministic kernels (fixed threads in smoke)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if is_smoke():  # same thread count everywhere, so stored smoke outputs repeat across machines
        torch.set_num_threads(SMOKE_THREADS)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
