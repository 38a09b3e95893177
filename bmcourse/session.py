"""One session's set-up: seed, quieten libraries and print what the notebook will use.

This sits above ``config`` (environment readers), ``data`` and ``models``, so none of those
needs to import it. ``data`` and ``models`` (which import torch) are imported when ``setup()``
runs, so ``import bmcourse`` stays light.
"""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import cache_dir, data_dir, device, gpu_name, is_offline, profile, seed_everything
from .hub import quiet_transformers


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def runtime_name() -> str:
    """Where the notebook runs: ``Colab``, ``Binder``, ``Kaggle`` or ``local``."""
    if in_colab():
        return "Colab"
    if os.environ.get("BINDER_LAUNCH_HOST") or os.environ.get("BINDER_REPO_URL"):
        return "Binder"
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
        return "Kaggle"
    return "local"


def describe_runtime(where: str, gpu: str | None, device: str) -> str:
    """One line: the runtime, the GPU found and the device used, with what to do when they disagree."""
    line = f"runtime: {where} | GPU: {gpu or 'none'} | using {device}"
    if gpu is None and where == "Colab":
        line += " (for a GPU: Runtime > Change runtime type > T4 GPU, then run again from the top)"
    elif gpu is None:
        line += " (no GPU found: everything runs on the CPU, the smoke profile in minutes)"
    elif not device.startswith(("cuda", "mps")):
        line += " (a GPU is there but BMCOURSE_DEVICE chose the CPU)"
    return line


HEADLINE_PREFIX = "headline: "


def headline(label: str, value: Any) -> None:
    """Print a notebook's headline result as one ``headline:`` line; ``bmcourse run``
    shows it in its summary table. Floats print with 3 decimals."""
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"{HEADLINE_PREFIX}{label} = {text}")


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
    for name in ("torch", "transformers", "datasets", "seqeval"):
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
    quiet_transformers()
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
    lines.append("  " + describe_runtime(runtime_name(), gpu_name(), settings.device))
    if model:
        lines.append(f"  model: {model}")
    for where, names in sources.items():
        lines.append(f"  data from {where}: {', '.join(names)}")
    lines.append("  versions: " + ", ".join(f"{k} {v}" for k, v in library_versions().items()))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where something ran: OS, Python, CPU count, torch and its threads, GPU name; no paths."""
    import torch

    info = {"os": f"{platform.system()} {platform.machine()}", "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__}
    gpu = gpu_name()
    if gpu:
        info["gpu"] = gpu
    return info
