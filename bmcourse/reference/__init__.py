"""Shipped reference results from full runs (package data), and where new full runs write theirs.

Notebooks read the shipped files with :func:`load` / :func:`image`, so they work after ``pip install``
(Colab too). A full run writes to :func:`results_dir` and never overwrites the shipped files;
maintainers refresh them explicitly with ``bmcourse reference refresh``. Every result file is
written by :func:`write_json` (through :func:`atomic_open`): whole, or not at all.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import IO, Any

from ..errors import BmcourseError
from ..i18n import tr as _

#: What a shipped result file must say about where it came from.
PROVENANCE_KEYS = ("model", "data_source", "command", "machine", "date", "commit")


def names() -> list[str]:
    """The shipped result names (JSON files without ``.json``)."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".json"))


def load(name: str) -> dict[str, Any]:
    """A shipped reference result, e.g. ``load("ner_reference")``."""
    item = resources.files(__name__) / f"{name}.json"
    if not item.is_file():
        raise BmcourseError(_("no shipped reference result {name}").format(name=repr(name)),
                            fix=_("use one of: {names}").format(names=", ".join(names())))
    return json.loads(item.read_text(encoding="utf-8"))


def image(name: str) -> bytes:
    """The PNG shipped with a reference result, e.g. ``image("ner_reference")``."""
    item = resources.files(__name__) / f"{name}.png"
    if not item.is_file():
        raise BmcourseError(_("no shipped reference figure {name}.png").format(name=repr(name)),
                            fix=_("refresh it with `bmcourse reference refresh`"))
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


def _new_file_mode(path: Path) -> int:
    """The permissions a rewritten ``path`` keeps (a new one gets the usual ones, umask applied)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A handle on a temporary file in ``path``'s folder that replaces ``path`` (flushed, fsynced,
    ``os.replace``) only when the block ends without an error or Ctrl-C; otherwise the temporary
    file is removed and ``path`` is left as it was. ``mode`` is ``"w"`` (UTF-8 text) or ``"wb"``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with open(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash once the folder is synced
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_json(payload: Any, path: str | Path, *, ensure_ascii: bool = True) -> Path:
    """Write ``payload`` as indented JSON (and a final newline) to ``path``, atomically: the one
    place the package writes a result file. Creates the folder; returns ``path``."""
    with atomic_open(path) as handle:
        json.dump(payload, handle, indent=2, ensure_ascii=ensure_ascii)
        handle.write("\n")
    return Path(path)


def _git(root: Path, *args: str) -> str:
    """``git ARGS`` run in ``root`` (no ``GIT_*`` variable may point it elsewhere); its output."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, timeout=10,
                          check=True).stdout.strip()


def checkout_root(package_dir: str | Path | None = None) -> Path | None:
    """The git checkout this package runs from: the package folder's parent, when that folder is
    the top of a git work tree that tracks the package. None otherwise: installed from a wheel,
    copied elsewhere, or lying inside some other repository (a virtual environment in a project)."""
    package = Path(package_dir or Path(__file__).resolve().parent.parent).resolve()
    root = package.parent
    if not (root / ".git").exists():
        return None
    try:
        top = _git(root, "rev-parse", "--show-toplevel")
        tracked = _git(root, "ls-files", "--", f"{package.name}/__init__.py")
    except (OSError, subprocess.SubprocessError):
        return None
    return root if top and Path(top).resolve() == root and tracked else None


def git_commit(short: bool = True) -> str | None:
    """The commit of the checkout this package runs from (``+dirty`` if changed), run in that
    checkout's root; None outside a checkout (see :func:`checkout_root`) or without git."""
    root = checkout_root()
    if root is None:
        return None
    try:
        commit = _git(root, "rev-parse", "--short" if short else "--verify", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def command_line() -> str:
    """The command line that ran this process, without the folders it was typed in (for provenance)."""
    import sys

    args = [Path(a).name if os.sep in a else a for a in sys.argv[1:]]
    return " ".join(["bmcourse", *args]) if Path(sys.argv[0]).name == "bmcourse" else " ".join(args)


def provenance(*, model: dict[str, Any], data_source: str, command: str) -> dict[str, Any]:
    """The provenance block every result file carries (see :data:`PROVENANCE_KEYS`)."""
    from ..session import machine

    return {"model": model, "data_source": data_source, "command": command, "machine": machine(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), "commit": git_commit()}


def label(result: dict[str, Any]) -> str:
    """One line naming a result's model (with casing), data, machine, date and commit."""
    model = result.get("model", {})
    if isinstance(model, dict):
        cased = {True: _("cased"), False: _("uncased")}.get(model.get("cased"), _("casing unknown"))
        model = _("{name} ({cased})").format(name=model.get("name", "?"), cased=cased)
    where = result.get("device", "cpu")
    cores = result.get("machine", {}).get("cpu_count")
    return _("REFERENCE RESULTS, not this run: {model}, {data}, {device}{cores}, {date}, commit {commit}").format(
        model=model, data=result.get("data_source", "?"), device=where,
        cores=_(" ({cores} CPU cores)").format(cores=cores) if cores and where == "cpu" else "",
        date=str(result.get("date", "?"))[:10], commit=result.get("commit") or _("not recorded"))
