"""The notebook plumbing of the maintainer commands: find, execute, normalise and sync the notebooks.

:func:`course_notebooks` lists the course's notebooks (the core's ``concepts.NOTEBOOK_FILES``);
:func:`execute` runs one headless on a private kernel; :func:`normalise` and
:func:`keep_equivalent_outputs` keep stored outputs free of churn; :func:`sync` and
:func:`out_of_sync` keep each jupytext pair in line; :func:`headline_of` and :func:`exercises_of`
read a run's results for the summary table.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
SOURCE_FORMAT = "py:percent"  # the format of the notebook sources (notebooks/NN_name.py)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
DATA_OUTPUTS = ("display_data", "execute_result")


def course_notebooks(folder: Path, new_pairs: bool = False) -> list[Path]:
    """The course's notebooks (``concepts.NOTEBOOK_FILES``) that exist in ``folder``, in order; with
    ``new_pairs`` also those whose ``.py`` source exists but whose ``.ipynb`` does not yet."""
    from bmcourse.concepts import NOTEBOOK_FILES

    paths = [folder / name for name in sorted(NOTEBOOK_FILES.values())]
    return [p for p in paths if p.is_file() or (new_pairs and p.with_suffix(".py").is_file())]


def _merge_streams(outputs: list[Any]) -> list[Any]:
    """Join consecutive stream outputs of the same name: a busy kernel flushes stdout on a timer and
    splits one cell's prints at random places, which would churn the stored file."""
    merged: list[Any] = []
    for out in outputs:
        previous = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == out.get("name")):
            previous["text"] = "".join(previous["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def normalise(nb: Any) -> Any:
    """Kernelspec ``python3``, no volatile metadata (timings, widget state, versions); ids and jupytext filters kept."""
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python"},
                   **{k: v for k, v in nb.metadata.items() if k in ("title", "jupytext")}}
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
                # A widget view without its (dropped) state shows nothing and its random model_id
                # churns every store; the text/plain beside it stays.
                out.get("data", {}).pop(WIDGET_VIEW, None)
            cell.outputs = _merge_streams([o for o in cell.outputs
                                           if o.get("output_type") not in DATA_OUTPUTS or o.get("data")])
    return nb


def sanitisers(config: Path) -> list[tuple[re.Pattern[str], str]]:
    """The (regex, replacement) pairs of an nbval sanitiser file (``tests/nbval_sanitize.cfg``)."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config, encoding="utf-8")
    return [(re.compile(parser[name]["regex"]), parser[name]["replace"]) for name in parser.sections()]


def _compared_text(outputs: list[Any], rules: list[tuple[re.Pattern[str], str]]) -> str:
    """The outputs with stream text and ``text/*`` data sanitised as nbval sanitises them; other
    data (images) as is, so a changed figure is never kept as "equivalent"."""
    import json

    def clean(value: Any) -> Any:
        text = "".join(value) if isinstance(value, list) else value
        if isinstance(text, str):
            for pattern, replacement in rules:
                text = pattern.sub(replacement, text)
        return text

    plain = [{"type": out.get("output_type"), "name": out.get("name"), "text": clean(out.get("text")),
              "data": {k: clean(v) if k.startswith("text/") else v for k, v in out.get("data", {}).items()}}
             for out in outputs]
    return json.dumps(plain, sort_keys=True, default=str)


def keep_equivalent_outputs(old: Any, new: Any, rules: list[tuple[re.Pattern[str], str]]) -> int:
    """Where a re-executed cell's outputs compare equal to the stored ones under the sanitisers
    (only timings, paths, ... differ), keep the stored ones, so storing again causes no diff.
    Returns how many cells were kept."""
    before = {c.get("id"): c for c in old.cells if c.cell_type == "code"}
    kept = 0
    for cell in new.cells:
        previous = before.get(cell.get("id")) if cell.cell_type == "code" else None
        if previous is None or previous.source != cell.source or previous.outputs == cell.outputs:
            continue
        if _compared_text(previous.outputs, rules) == _compared_text(cell.outputs, rules):
            cell.outputs = previous.outputs
            kept += 1
    return kept


def _kernel_env() -> None:
    """Make the ``python3`` kernel resolve to this interpreter and the data folder absolute."""
    if os.environ.get("BMCOURSE_DATA_DIR"):
        os.environ["BMCOURSE_DATA_DIR"] = str(Path(os.environ["BMCOURSE_DATA_DIR"]).expanduser().resolve())
    here = str(Path(sys.executable).parent)
    if not os.environ.get("PATH", "").startswith(here + os.pathsep):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")


class NotebookFailed(Exception):
    """A notebook cell raised: carries the exception's name and value, and the partly run notebook."""

    def __init__(self, nb: Any, ename: str, evalue: str, cell: int | None, seconds: float) -> None:
        super().__init__(f"{ename}: {evalue}" + (f" (cell {cell})" if cell is not None else ""))
        self.nb, self.ename, self.evalue, self.cell, self.seconds = nb, ename, evalue, cell, seconds


def _failed_cell(nb: Any) -> int | None:
    """The index of the first code cell with an error output."""
    for index, cell in enumerate(nb.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return index
    return None


def execute(path: Path, timeout: int = 3600) -> tuple[Any, float]:
    """Run a notebook top to bottom in its folder; returns the executed notebook and seconds.

    Raises :class:`NotebookFailed` with the failing cell's exception and the partly executed notebook.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    _kernel_env()
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with _local_kernel() as km:
        try:
            NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except CellExecutionError as err:
            raise NotebookFailed(nb, err.ename, err.evalue, _failed_cell(nb), time.perf_counter() - start) from None
        except CellTimeoutError as err:
            raise NotebookFailed(nb, "CellTimeoutError", str(err).splitlines()[0], None,
                                 time.perf_counter() - start) from None
    return nb, time.perf_counter() - start


@contextlib.contextmanager
def _local_kernel() -> Iterator[Any]:
    """A ``python3`` kernel manager that talks over IPC sockets in a private temporary folder, not
    TCP on localhost (no port for other users to reach, and no "running over TCP without
    encryption" warning). Windows has no IPC transport: there it is the usual TCP kernel."""
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryDirectory(prefix="bmcourse-kernel-") as folder:
        km = (KernelManager(kernel_name="python3") if os.name == "nt" else
              KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(folder, "kernel")))
        try:
            yield km
        finally:  # nbclient leaves a kernel it did not create running: shut it down here
            if km.has_kernel:
                km.shutdown_kernel(now=True)


def paired_source(path: Path) -> Path:
    """The py:percent source paired with a notebook (``NN_name.py`` beside ``NN_name.ipynb``)."""
    return path.with_suffix(".py")


def sync(path: Path) -> None:
    """Bring a notebook pair in line with jupytext (the newer side wins; cell ids and outputs are kept)."""
    from jupytext.cli import jupytext as jupytext_cli

    source = paired_source(path)
    if not source.is_file() and not (path.parent / "jupytext.toml").is_file():
        return  # not a paired notebook (e.g. the test harness): nothing to sync
    target = source if source.is_file() else path
    # the source is read as py:percent explicitly: jupytext would guess "hydrogen" (and see no pair)
    # from an indented magic such as the Colab-only `    # %pip install ...` of the setup cells
    read_as = ["--from", SOURCE_FORMAT] if target == source else []
    status = jupytext_cli(["--sync", "--quiet", *read_as, str(target)])
    if status:
        raise RuntimeError(f"jupytext --sync {target} failed with status {status}")


def out_of_sync(path: Path) -> str | None:
    """Why the pair of ``path`` differs (None when the .py and the .ipynb hold the same cells)."""
    import jupytext
    from jupytext.compare import NotebookDifference, compare_notebooks

    source = paired_source(path)
    if not source.is_file():
        return f"{source.name} is missing: every notebook is a jupytext pair (run `bmcourse sync {path}`)"
    try:
        compare_notebooks(jupytext.read(path), jupytext.read(source, fmt=SOURCE_FORMAT), fmt=SOURCE_FORMAT)
    except NotebookDifference as diff:
        return str(diff)
    return None


CHECKPOINT = re.compile(r"\b(\d+)/(\d+) (?:exercises passed|个练习已通过)")


def _stdout_lines(nb: Any) -> list[str]:
    """Every stdout line the notebook's code cells printed, in order."""
    lines: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines.extend("".join(out.get("text", "")).splitlines())
    return lines


def headline_of(nb: Any) -> str:
    """The last ``headline:`` line an executed notebook printed (``bmcourse.headline``), or ``-``."""
    from bmcourse.session import HEADLINE_PREFIX

    found = [line[len(HEADLINE_PREFIX):] for line in _stdout_lines(nb) if line.startswith(HEADLINE_PREFIX)]
    return found[-1] if found else "-"


def exercises_of(nb: Any) -> str:
    """``passed/total`` from the last checkpoint line (``3/4 exercises passed``), or ``-``."""
    found = [m.group(1) + "/" + m.group(2) for line in _stdout_lines(nb) for m in [CHECKPOINT.search(line)] if m]
    return found[-1] if found else "-"
