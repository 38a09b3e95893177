"""Notebook plumbing for the CLI: execute headless, normalise metadata, strip solutions."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
SOLUTION_TAG = "solution"
STUDENT_PLACEHOLDER = "# Your solution here: write the code, then run the check cell below.\n"


def normalise(nb: Any) -> Any:
    """Kernelspec ``python3``, no volatile metadata (timings, widget state, versions, ids kept)."""
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python"},
                   **{k: v for k, v in nb.metadata.items() if k in ("title",)}}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            for out in cell.outputs:
                out.get("metadata", {}).pop("execution", None)
    return nb


def _kernel_env() -> None:
    """Make the ``python3`` kernel resolve to this interpreter and the data folder absolute."""
    if os.environ.get("BMCOURSE_DATA_DIR"):
        os.environ["BMCOURSE_DATA_DIR"] = str(Path(os.environ["BMCOURSE_DATA_DIR"]).expanduser().resolve())
    here = str(Path(sys.executable).parent)
    if not os.environ.get("PATH", "").startswith(here + os.pathsep):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")


def execute(path: Path, timeout: int = 3600) -> tuple[Any, float]:
    """Run a notebook top to bottom in its folder; returns the executed notebook and seconds."""
    import nbformat
    from nbclient import NotebookClient

    _kernel_env()
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb, time.perf_counter() - start


def strip_solutions(nb: Any) -> tuple[Any, int]:
    """Replace the source of cells tagged ``solution`` by a placeholder; returns (nb, count)."""
    count = 0
    for cell in nb.cells:
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            cell.source = STUDENT_PLACEHOLDER if cell.cell_type == "code" else "*Your answer here.*"
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            count += 1
    return nb, count
