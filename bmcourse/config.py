"""Run settings in one place: profile, device, seeding, offline switch, data and cache folders.

Environment variables: ``BMCOURSE_PROFILE`` (smoke | full), ``BMCOURSE_DEVICE``,
``BMCOURSE_DATA_DIR``, ``BMCOURSE_CACHE_DIR``, ``BMCOURSE_OFFLINE`` (``HF_HUB_OFFLINE``
counts too) and ``BMCOURSE_MODEL``.
"""
from __future__ import annotations

import functools
import os
import platform
import random
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import BmcourseError

PROFILES = ("smoke", "full")
SMOKE_THREADS = 2
_TRUE = {"1", "true", "yes", "on"}
T = TypeVar("T")


def profile() -> str:
    """The run profile: ``smoke`` (tiny, for tests) or ``full`` (the real course, default)."""
    value = os.environ.get("BMCOURSE_PROFILE", "full").strip().lower() or "full"
    if value not in PROFILES:
        raise BmcourseError(f"BMCOURSE_PROFILE={value!r} is not a profile",
                            fix=f"set BMCOURSE_PROFILE to one of {', '.join(PROFILES)}")
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


@functools.lru_cache(maxsize=1)
def _hub_answers(timeout: float) -> bool:
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when online and huggingface.co answers within ``timeout`` seconds (checked once)."""
    return not is_offline() and _hub_answers(timeout)


def data_dir() -> Path | None:
    """The local data folder from ``BMCOURSE_DATA_DIR``, or None when unset."""
    value = os.environ.get("BMCOURSE_DATA_DIR", "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise BmcourseError(f"BMCOURSE_DATA_DIR={value!r} is not a folder",
                            fix="point BMCOURSE_DATA_DIR at a folder holding <name>/train.jsonl "
                                "(for example ../shared/data), or unset it")
    return path.resolve()


def cache_dir() -> Path:
    """Where downloads and checkpoints go: ``BMCOURSE_CACHE_DIR`` or ``~/.cache/bmcourse``."""
    value = os.environ.get("BMCOURSE_CACHE_DIR", "").strip()
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "bmcourse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def device() -> str:
    """The compute device: ``BMCOURSE_DEVICE`` if set, else cuda > mps > cpu."""
    import torch

    wanted = os.environ.get("BMCOURSE_DEVICE", "").strip().lower()
    if wanted:
        if wanted.startswith("cuda") and not torch.cuda.is_available():
            raise BmcourseError(f"BMCOURSE_DEVICE={wanted} but no CUDA device is visible",
                                fix="unset BMCOURSE_DEVICE or set it to cpu")
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


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


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


@dataclass(frozen=True)
class Settings:
    """What ``setup()`` decided, returned so a notebook can use it."""

    profile: str
    device: str
    seed: int
    offline: bool
    data_dir: Path | None
    cache_dir: Path

    @property
    def smoke(self) -> bool:
        """True under the smoke profile."""
        return self.profile == "smoke"


def library_versions() -> dict[str, str]:
    """Versions of python and the libraries the course depends on."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "datasets", "peft", "seqeval"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


SMOKE_BANNER = ("SMOKE PROFILE: every number below comes from the tiny embedded samples and only "
                "illustrates; BMCOURSE_PROFILE=full runs the real course")


def setup(seed: int = 0, verbose: bool = True) -> Settings:
    """Seed everything, quieten library logs and print profile, model, device, data sources and versions."""
    from . import data, models

    seed_everything(seed)
    models.quiet_transformers()
    settings = Settings(profile=profile(), device=device(), seed=seed, offline=is_offline(),
                        data_dir=data_dir(), cache_dir=cache_dir())
    if verbose:
        print(describe(settings, data.sources_summary(), models.describe_model(models.model_info())))
    return settings


def describe(settings: Settings, sources: dict[str, list[str]], model: str | None = None) -> str:
    """The compact block ``setup()`` prints (with the smoke banner first in the smoke profile)."""
    network = "offline" if settings.offline else "online if the Hub answers"
    lines = [f"bmcourse | profile {settings.profile} | device {settings.device} | seed {settings.seed} | {network}"]
    if settings.smoke:
        lines.insert(0, SMOKE_BANNER)
    if model:
        lines.append(f"  model: {model}")
    for where, names in sources.items():
        lines.append(f"  data from {where}: {', '.join(names)}")
    lines.append("  versions: " + ", ".join(f"{k} {v}" for k, v in library_versions().items()))
    return "\n".join(lines)


def settings_dict(settings: Settings) -> dict[str, Any]:
    """The settings as plain data, e.g. for a benchmark's JSON."""
    return {"profile": settings.profile, "device": settings.device, "seed": settings.seed,
            "offline": settings.offline,
            "data_dir": str(settings.data_dir) if settings.data_dir else None}
