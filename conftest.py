"""pytest set-up shared by unit and notebook tests (nbval).

Notebooks run in the smoke profile, with the kernel of this environment (the stored kernelspec
is normalised to ``python3``), progress bars off, stderr left out of comparison, and the
sanitisers in ``tests/`` applied (times, paths, addresses, devices; float digits on CUDA).
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SANITIZERS = [ROOT / "tests" / "nbval_sanitize.cfg"]

# Inherited by the notebook kernels nbval starts (they run in the notebook's folder, so a
# relative BMCOURSE_DATA_DIR is made absolute here).
if os.environ.get("BMCOURSE_DATA_DIR"):
    os.environ["BMCOURSE_DATA_DIR"] = str(Path(os.environ["BMCOURSE_DATA_DIR"]).expanduser().resolve())
os.environ["BMCOURSE_PROFILE"] = "smoke"
os.environ["TQDM_DISABLE"] = "1"
os.environ["BMCOURSE_STATIC_WIDGETS"] = "1"  # stored outputs hold the static HTML, not widget state
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Stored outputs are computed on CPU, so notebook tests run on CPU whatever GPU or MPS is present.
# BMCOURSE_DEVICE=cuda opts in to a GPU run, compared with the extra CUDA sanitiser.
os.environ.setdefault("BMCOURSE_DEVICE", "cpu")


def _cuda() -> bool:
    """True when the notebooks were asked to run on a GPU (``BMCOURSE_DEVICE=cuda...``)."""
    return os.environ["BMCOURSE_DEVICE"].strip().lower().startswith("cuda")


def pytest_configure(config) -> None:
    """Use the current environment's kernel for notebooks unless told otherwise."""
    option = config.option
    if getattr(option, "nbval", False) and not getattr(option, "nbval_kernel_name", None):
        option.nbval_current_env = True
    if _cuda():
        SANITIZERS.append(ROOT / "tests" / "nbval_sanitize_cuda.cfg")


CUDA_VARIES = "cuda-varies"  # cell tag: on a GPU the cell must run, but its text is not compared


def pytest_collection_modifyitems(items) -> None:
    """On a GPU, cells tagged ``cuda-varies`` still run (an error fails) but their outputs are not
    compared: what they print (which entities, which strategy wins) follows what training learned,
    and GPU kernels and bf16 land training elsewhere than the stored CPU run. Every other cell is
    compared, with the CUDA sanitiser masking numbers."""
    if not _cuda():
        return
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and CUDA_VARIES in cell.get("metadata", {}).get("tags", []):
            item.options["check"] = False


def pytest_collectstart(collector) -> None:
    """For each notebook: ignore stderr outputs and add the project sanitisers."""
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:
        return
    if isinstance(collector, IPyNbFile):
        collector.skip_compare = tuple(collector.skip_compare) + ("stderr",)
        user_files = IPyNbFile.get_sanitize_files(collector)
        collector.get_sanitize_files = lambda: [str(p) for p in SANITIZERS] + list(user_files)


import pytest  # noqa: E402  (after the environment above is set)

from bmcourse.course.translate import notebook_language  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    """Each notebook's kernel starts in its edition's language (the stored outputs hold its messages),
    whatever the machine's locale; set before nbval starts the kernel for the notebook's first cell."""
    os.environ["BMCOURSE_LANG"] = notebook_language(Path(str(item.path)))
