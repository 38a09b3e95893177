"""What students handed in: ``SUBMISSIONS/<student>/<notebook>.ipynb`` (a folder, or an LMS zip of
the same layout), read into one row per student and assignment. A file that is not a notebook,
invalid JSON, a missing notebook or an unexpected layout becomes that row's status, never an
error that stops everyone else's grading.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmcourse.errors import BmcourseError

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
IGNORED = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints"}


@dataclass
class Submission:
    """One student's notebook for one assignment, or why there is none to grade (``problem``)."""

    student: str
    assignment: str
    path: Path | None = None
    notebook: Any = None
    problem: str | None = None


def unpack(submissions: Path, into: Path) -> Path:
    """``submissions`` itself when it is a folder; a zip is extracted into ``into`` (no path may
    leave it) and its single top folder, if it has one, is the root."""
    if submissions.is_dir():
        return submissions
    if not submissions.is_file():
        raise BmcourseError("no such folder or zip file", file=submissions,
                            fix="pass the folder that holds one folder per student, or the LMS zip")
    if not zipfile.is_zipfile(submissions):
        raise BmcourseError("neither a folder nor a zip file", file=submissions,
                            fix="pass the folder that holds one folder per student, or the LMS zip")
    root = into.resolve()
    with zipfile.ZipFile(submissions) as archive:
        for member in archive.infolist():
            target = (root / member.filename).resolve()
            if root not in target.parents and target != root:
                raise BmcourseError(f"the zip holds a path outside its folder: {member.filename!r}", file=submissions,
                                    fix="re-export the submissions from the LMS; do not grade this file")
        archive.extractall(root)
    entries = [p for p in root.iterdir() if p.name not in IGNORED]
    if len(entries) == 1 and entries[0].is_dir() and not any(p.suffix == ".ipynb" for p in entries[0].iterdir()):
        return entries[0]
    return root


def read_notebook(path: Path) -> tuple[Any, str | None]:
    """``(notebook, None)`` or ``(None, why it is not a readable notebook)``."""
    import nbformat

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, "not a notebook (not UTF-8 text)"
    except OSError as error:
        return None, f"unreadable ({error.strerror or error})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"not a valid notebook (invalid JSON at line {error.lineno}, column {error.colno})"
    if not isinstance(data, dict) or "cells" not in data:
        return None, "not a notebook (JSON without cells)"
    try:
        return nbformat.reads(text, as_version=4), None
    except Exception as error:  # nbformat raises several kinds for a malformed notebook
        return None, f"not a valid notebook ({type(error).__name__})"


def collect(root: Path, assignments: list[str]) -> list[Submission]:
    """One row per student folder and assignment (sorted), plus a row for anything unexpected."""
    rows: list[Submission] = []
    for entry in sorted(root.iterdir()):
        if entry.name in IGNORED or entry.name.startswith("."):
            continue
        if not entry.is_dir():
            rows.append(Submission(entry.stem, "-", entry, problem=(
                f"unexpected layout: {entry.name} is not in a student folder "
                "(expected SUBMISSIONS/<student>/<notebook>.ipynb)")))
            continue
        student = entry.name
        if not STUDENT_ID.match(student):
            rows.append(Submission(student, "-", entry, problem="unexpected layout: not a usable student id "
                                   "(letters, digits and . _ @ + - only)"))
            continue
        files = {p.name: p for p in entry.iterdir() if p.name not in IGNORED}
        for name in sorted(files):
            path = files[name]
            stem = Path(name).stem
            if path.is_dir():
                rows.append(Submission(student, "-", path, problem=f"unexpected layout: a folder {name}/ "
                                       "(expected SUBMISSIONS/<student>/<notebook>.ipynb)"))
            elif stem not in assignments:
                rows.append(Submission(student, stem, path, problem=f"not an assignment of this course: {name} "
                                       f"(expected one of {', '.join(a + '.ipynb' for a in assignments)})"))
            elif path.suffix != ".ipynb":
                rows.append(Submission(student, stem, path, problem=f"not a notebook: {name}"))
        reported = {row.assignment for row in rows if row.student == student}
        for assignment in assignments:
            path = files.get(f"{assignment}.ipynb")
            if (path is None or path.is_dir()) and assignment in reported:
                continue  # a file of that name that is not a notebook: already its row
            if path is None or path.is_dir():
                rows.append(Submission(student, assignment, problem=f"missing: no {assignment}.ipynb"))
                continue
            notebook, problem = read_notebook(path)
            rows.append(Submission(student, assignment, path, notebook, problem))
    return rows


def submitted_assignments(root: Path, known: list[str]) -> list[str]:
    """The assignments of ``known`` that at least one student handed in (the ones to grade)."""
    names = {p.stem for p in root.glob("*/*.ipynb")}
    return [name for name in known if name in names]


class Unpacked:
    """A context manager: the submissions' root folder, a zip extracted to a temporary folder."""

    def __init__(self, submissions: Path) -> None:
        self.submissions = submissions
        self.folder: Path | None = None

    def __enter__(self) -> Path:
        if self.submissions.is_dir():
            return self.submissions
        self.folder = Path(tempfile.mkdtemp(prefix="bmcourse-submissions-"))
        return unpack(self.submissions, self.folder)

    def __exit__(self, *exc: object) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
