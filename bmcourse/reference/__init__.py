"""Shipped reference results from full runs (package data), and where new full runs write theirs.

Notebooks read the shipped files with :func:`load` / :func:`image`, so they work after ``pip install``
(Colab too). A full run writes to :func:`results_dir` and never overwrites the shipped files;
maintainers refresh them explicitly with ``bmcourse reference refresh``.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import BmcourseError

#: What a shipped result file must say about where it came from.
PROVENANCE_KEYS = ("model", "data_source", "command", "machine", "date", "commit")


def names() -> list[str]:
    """The shipped result names (JSON files without ``.json``)."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".json"))


def load(name: str) -> dict[str, Any]:
    """A shipped reference result, e.g. ``load("ner_reference")``."""
    item = resources.files(__name__) / f"{name}.json"
    if not item.is_file():
        raise BmcourseError(f"no shipped reference result {name!r}",
                            fix=f"use one of: {', '.join(names())}")
    return json.loads(item.read_text(encoding="utf-8"))


def image(name: str) -> bytes:
    """The PNG shipped with a reference result, e.g. ``image("ner_reference")``."""
    item = resources.files(__name__) / f"{name}.png"
    if not item.is_file():
        raise BmcourseError(f"no shipped reference figure {name!r}.png",
                            fix="refresh it with `bmcourse reference refresh`")
    return item.read_bytes()


def results_dir() -> Path:
    """Where a full run writes its own results: ``BMCOURSE_RESULTS_DIR`` or ``<cache>/results``."""
    from ..config import cache_dir

    value = os.environ.get("BMCOURSE_RESULTS_DIR", "").strip()
    path = Path(value).expanduser() if value else cache_dir() / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shipped_dir() -> Path:
    """The package folder that holds the shipped results (maintainers only write here)."""
    return Path(__file__).resolve().parent


def git_commit(short: bool = True) -> str:
    """The commit of the checkout this package runs from (``+dirty`` if changed), or ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        args = ["git", "rev-parse", "--short" if short else "--verify", "HEAD"]
        commit = subprocess.run(args, cwd=here, capture_output=True, text=True, timeout=10,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def provenance(*, model: dict[str, Any], data_source: str, command: str) -> dict[str, Any]:
    """The provenance block every result file carries (see :data:`PROVENANCE_KEYS`)."""
    from ..session import machine

    return {"model": model, "data_source": data_source, "command": command, "machine": machine(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), "commit": git_commit()}


def label(result: dict[str, Any]) -> str:
    """One line naming a result's model (with casing), data, machine, date and commit."""
    model = result.get("model", {})
    if isinstance(model, dict):
        cased = {True: "cased", False: "uncased"}.get(model.get("cased"), "casing unknown")
        model = f"{model.get('name', '?')} ({cased})"
    where = result.get("device", "cpu")
    cores = result.get("machine", {}).get("cpu_count")
    return (f"REFERENCE RESULTS, not this run: {model}, {result.get('data_source', '?')}, {where}"
            f"{f' ({cores} CPU cores)' if cores and where == 'cpu' else ''}, "
            f"{str(result.get('date', '?'))[:10]}, commit {result.get('commit', '?')}")
