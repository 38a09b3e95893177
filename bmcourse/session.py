"""One session's set-up: seed, quieten libraries and print what the notebook will use.

This sits above ``config`` (environment readers), ``data`` and ``models``, so none of those
needs to import it. ``data`` and ``models`` (which import torch) are imported when ``setup()``
runs, so ``import bmcourse`` stays light.
"""
from __future__ import annotations

import os
import platform
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import cache_dir, data_dir, device, gpu_name, is_offline, seed_everything
from .config import profile as current_profile
from .hub import quiet_transformers
from .i18n import tr as _


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
    shown = _("local") if where == "local" else where  # Colab, Binder, Kaggle are names
    line = _("runtime: {where} | GPU: {gpu} | using {device}").format(where=shown, gpu=gpu or _("none"),
                                                                     device=device)
    if gpu is None and where == "Colab":
        line += _(" (for a GPU: Runtime > Change runtime type > T4 GPU, then run again from the top)")
    elif gpu is None:
        line += _(" (no GPU found: everything runs on the CPU, the smoke profile in minutes)")
    elif not device.startswith(("cuda", "mps")):
        line += _(" (a GPU is there but BMCOURSE_DEVICE chose the CPU)")
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
                "illustrates; bmcourse.setup(profile=\"full\") here (or BMCOURSE_PROFILE=full) runs the real course")
FULL_SWITCH = ("  profile full: the real datasets and the course's real results; for a first pass in minutes, "
               "bmcourse.setup(profile=\"smoke\") here (or BMCOURSE_PROFILE=smoke) runs every cell on tiny samples")

# Known sizes of Hub models the course names, for the memory check before anything is downloaded.
KNOWN_PARAMETERS = {"bert-base-cased": 108_310_272, "bert-base-uncased": 109_482_240,
                    "bert-large-cased": 333_579_264, "roberta-base": 124_645_632}
# Fine-tuning in fp32 with AdamW keeps 4 floats per weight (weight, gradient, two moments): 16 bytes.
BYTES_PER_TRAINED_PARAMETER = 16
RUNTIME_OVERHEAD_BYTES = 1_000_000_000  # torch, the libraries, activations at the course's batch sizes


def model_parameters(info: dict[str, Any], folder: Path | None = None) -> int | None:
    """Parameters of the model ``info`` names, without loading it: from its safetensors size (fp32)
    when it is a local folder, from :data:`KNOWN_PARAMETERS` for a Hub id, else None."""
    if folder is not None and folder.is_dir():
        files = list(folder.glob("*.safetensors"))
        return sum(f.stat().st_size for f in files) // 4 if files else None
    return KNOWN_PARAMETERS.get(str(info.get("name", "")).split("/")[-1])


def available_memory() -> int | None:
    """Bytes this process may still use: the smaller of free RAM and a container (cgroup) limit,
    which is what Binder and most notebook services enforce."""
    try:
        import psutil

        free = psutil.virtual_memory().available
    except Exception:
        return None
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < free:
            used = _cgroup_usage(Path(limit_file).parent)
            free = max(int(text) - used, 0)
    return free


def _cgroup_usage(folder: Path) -> int:
    for name in ("memory.current", "memory.usage_in_bytes"):
        try:
            return int((folder / name).read_text().strip())
        except (OSError, ValueError):
            continue
    return 0


def memory_warning(parameters: int | None, available: int | None, model: str) -> str | None:
    """A warning line when fine-tuning ``model`` would not fit in ``available`` bytes, with what to do;
    None when it fits or either number is unknown."""
    if parameters is None or available is None:
        return None
    need = parameters * BYTES_PER_TRAINED_PARAMETER + RUNTIME_OVERHEAD_BYTES
    if available >= need:
        return None
    return _("  WARNING: fine-tuning {model} ({millions:.0f} M parameters) needs about {need:.1f} GB "
             "(weights, gradients and AdamW state, 16 bytes each, plus about 1 GB for the libraries); only "
             "{free:.1f} GB is free here. Use the packaged small model (BMCOURSE_MODEL=offline, "
             "22 M parameters) or the smoke profile, or a machine with more memory").format(
        model=model, millions=parameters / 1e6, need=need / 1e9, free=available / 1e9)


def cjk_font() -> str | None:
    """Let figures draw Chinese (the concept map's labels, the Chinese edition's titles); in Chinese,
    warn with the fix when no font with Chinese glyphs is installed."""
    from .i18n import language
    from .plots.layout import cjk_fallback

    font = cjk_fallback()
    if font is None and language() == "zh_CN":
        warnings.warn(_("no font with Chinese glyphs found: figures will show empty boxes for Chinese "
                        "text; install one (Debian/Ubuntu, Colab: apt-get install fonts-noto-cjk) and "
                        "restart the kernel"), stacklevel=3)
    return font


def setup(seed: int = 0, verbose: bool = True, profile: str | None = None) -> Settings:
    """Seed everything, quieten library logs and print profile (and how to switch it), model, device,
    data sources, versions and a warning when memory is too small for the model.

    ``profile="smoke"`` or ``"full"`` sets ``BMCOURSE_PROFILE`` for this session (what every later cell reads).
    """
    from . import data, models

    if profile is not None:
        os.environ["BMCOURSE_PROFILE"] = profile
    seed_everything(seed)
    quiet_transformers()
    settings = Settings(profile=current_profile(), device=device(), seed=seed, offline=is_offline(),
                        data_dir=data_dir(), cache_dir=cache_dir())
    cjk_font()
    if verbose:
        info = models.model_info()
        folder = Path(models.default_model_name())
        warning = memory_warning(model_parameters(info, folder if folder.exists() else None),
                                 available_memory(), info["name"])
        print(describe(settings, data.sources_summary(), models.describe_model(info), warning))
    return settings


def describe(settings: Settings, sources: dict[str, list[str]], model: str | None = None,
             warning: str | None = None) -> str:
    """The compact block ``setup()`` prints: the smoke banner first in the smoke profile, the way to the
    smoke profile in the full one, then runtime, model, a memory warning if any, data and versions."""
    network = _("offline") if settings.offline else _("online if the Hub answers")
    lines = [_("bmcourse | profile {profile} | device {device} | seed {seed} | {network}").format(
        profile=settings.profile, device=settings.device, seed=settings.seed, network=network)]
    if settings.smoke:
        lines.insert(0, _(SMOKE_BANNER))
    else:
        lines.append(_(FULL_SWITCH))
    lines.append("  " + describe_runtime(runtime_name(), gpu_name(), settings.device))
    if model:
        lines.append(_("  model: {model}").format(model=model))
    if warning:
        lines.append(warning)
    for where, names in sources.items():
        lines.append(_("  data from {where}: {names}").format(where=where, names=", ".join(names)))
    lines.append(_("  versions: ") + ", ".join(f"{k} {v}" for k, v in library_versions().items()))
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
