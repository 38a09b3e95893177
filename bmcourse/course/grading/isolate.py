"""Grading one submission without trusting it: the notebook that is run is rebuilt from the
release (setup cells, each exercise's read-only cell and locked test cell) with only the student's
answer cells put in, edits to locked cells are undone and reported, answers that reach into the
kernel or the grader are refused, and nbgrader's ``autograde`` runs it in a fresh temporary copy
of the course, offline, with per-cell and per-notebook time limits.
"""
from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .assign import SETUP_TAG, key_and_kind, nbgrader_env, tags

#: Names an answer may not touch: they reach the kernel, the interpreter or the grading itself.
REFUSED_NAMES = {"get_ipython", "set_custom_exc", "excepthook", "input_transformers_cleanup",
                 "input_transformers_post", "__builtins__", "builtins", "sys", "gc", "inspect", "ctypes",
                 "importlib", "exec", "eval", "compile", "globals", "locals", "vars", "setattr", "delattr",
                 "__import__", "open", "os", "subprocess", "shutil", "pathlib", "graded", "nbgrader"}
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "BMCOURSE_OFFLINE": "1",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": "", "BMCOURSE_PROFILE": "smoke",
           "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass
class Prepared:
    """The notebook to run for one submission and what was noticed while rebuilding it."""

    notebook: Any
    notes: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # answer grade id -> why it is not run


def grade_id(cell: Any) -> str | None:
    """The nbgrader grade id of a cell, if it has one."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def refused_reason(source: str) -> str | None:
    """Why an answer cell is not run (it uses a name that reaches the kernel or the grader), or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None  # it fails by itself when run: that exercise scores 0 with Python's own error
    for node in ast.walk(tree):
        targets = getattr(node, "targets", None) or ([node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign))
                                                       else [])
        changed = next((t for t in targets if isinstance(t, ast.Attribute)), None)
        if changed is not None:
            return f"assigns to an attribute ({ast.unparse(changed)}), which answers may not do when graded"
        name = None
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and
                                                      node.module else [])
            name = next((m for m in modules if m.split(".")[0] in REFUSED_NAMES), None)
        if name and name.split(".")[0] in REFUSED_NAMES:
            return f"uses {name}, which answers may not use when graded"
    return None


def prepare(submitted: Any, release: Any) -> Prepared:
    """The release's setup cells and exercise cells, with the student's answer cells put in place."""
    import nbformat

    theirs = {grade_id(c): c for c in submitted.cells if grade_id(c)}
    out = nbformat.v4.new_notebook(metadata=release.metadata)
    prepared = Prepared(out)
    for cell in release.cells:
        gid = grade_id(cell)
        if cell.cell_type != "code" or not (gid or SETUP_TAG in tags(cell)):
            continue
        cell = nbformat.from_dict(dict(cell))
        meta = cell.metadata.get("nbgrader", {})
        if gid and meta.get("solution"):
            mine = theirs.get(gid)
            if mine is None:
                prepared.notes.append(f"{key_and_kind(gid)[0]} answer cell deleted: graded as unanswered")
            else:
                cell.source = mine.source
                reason = refused_reason(mine.source)
                if reason:
                    prepared.refused[gid] = reason
                    prepared.notes.append(f"{key_and_kind(gid)[0]} answer not run: {reason}")
                    cell.source = "# not run when graded: " + reason + "\n..."
        elif gid:
            mine = theirs.get(gid)
            key, kind = key_and_kind(gid)
            if mine is None:
                prepared.notes.append(f"{key} {kind} cell deleted: restored for grading")
            elif mine.source != cell.source:
                prepared.notes.append(f"{key} {kind} cell edited: restored for grading")
        cell.outputs, cell.execution_count = [], None
        out.cells.append(cell)
    return prepared


@dataclass
class Run:
    """What running one submission gave: the executed notebook (None if it never finished)."""

    executed: Path | None
    seconds: float
    timed_out: bool = False
    failure: str | None = None


def _config_root(course: Path, work: Path) -> None:
    """The course's nbgrader_config.py in ``work``, pointing at ``work`` (never at the course)."""
    text = (course / "nbgrader_config.py").read_text(encoding="utf-8")
    lines = [f"c.CourseDirectory.root = {str(work)!r}" if line.startswith("c.CourseDirectory.root") else line
             for line in text.splitlines()]
    (work / "nbgrader_config.py").write_text("\n".join(lines) + "\n", encoding="utf-8")


def course_language(course: Path, assignment: str) -> str:
    """The language ``bmcourse assign`` recorded in the assignment's source notebook (``en`` when none):
    the instructor's choice, not the student's copy and not the grading machine's locale."""
    import nbformat

    source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return str(source.metadata.get("bmcourse", {}).get("language", "en"))


def run_isolated(course: Path, student: str, assignment: str, notebook: Any, *, cell_timeout: int,
                 notebook_timeout: int, keep: Path) -> Run:
    """nbgrader ``autograde`` of one prepared notebook in a fresh temporary copy of the course;
    the executed notebook is copied to ``keep`` (returned), the copy is removed."""
    import nbformat

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bmcourse-grade-"))
    try:
        _config_root(course, work)
        shutil.copy2(course / "gradebook.db", work / "gradebook.db")
        folder = work / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{assignment}.ipynb")
        home = work / "home"
        home.mkdir()
        env = {**nbgrader_env(), **OFFLINE, "HOME": str(home), "BMCOURSE_CACHE_DIR": str(home / "cache"),
               "MPLCONFIGDIR": str(home / "mpl"), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
        env.pop("BMCOURSE_DATA_DIR", None)
        env["BMCOURSE_LANG"] = course_language(course, assignment)  # feedback in the edition's language
        command = [sys.executable, "-m", "nbgrader", "autograde", assignment, f"--student={student}", "--force",
                   f"--CourseDirectory.root={work}", f"--Execute.timeout={cell_timeout}"]
        process = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        try:
            log, _ = process.communicate(timeout=notebook_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # nbgrader, its kernel and anything the answer started
            process.communicate()
            return Run(None, time.perf_counter() - started, timed_out=True)
        executed = work / "autograded" / student / assignment / f"{assignment}.ipynb"
        if process.returncode != 0 or not executed.is_file():
            tail = " | ".join(line for line in log.splitlines() if "ERROR" in line)[-300:]
            return Run(None, time.perf_counter() - started, failure=tail or f"nbgrader exit {process.returncode}")
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(executed, keep)
        return Run(keep, time.perf_counter() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
