"""``bmcourse grade``: collect the submissions into the course, run each in isolation (in
parallel, up to ``jobs`` at a time, with a progress bar), record them in nbgrader's gradebook, write
nbgrader's feedback, and return one row per student and notebook with its scores and status.
"""
from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bmcourse.errors import BmcourseError

from .assign import key_and_kind
from .isolate import Run, grade_id, prepare, run_isolated
from .record import EXECUTED, mark_not_run, record, scores
from .submissions import Submission, Unpacked, collect, submitted_assignments


@dataclass
class Row:
    """One student and notebook: points per exercise key, total, maximum and status."""

    student: str
    notebook: str
    points: dict[str, float] = field(default_factory=dict)
    maximum: dict[str, float] = field(default_factory=dict)
    status: str = "graded"
    seconds: float = 0.0

    @property
    def total(self) -> float:
        """Points scored in this notebook."""
        return sum(self.points.values())

    @property
    def max_total(self) -> float:
        """Points available in this notebook."""
        return sum(self.maximum.values())


def course_assignments(course: Path) -> list[str]:
    """The assignments released in a course folder made by ``bmcourse assign``."""
    for needed in ("nbgrader_config.py", "gradebook.db", "release"):
        if not (course / needed).exists():
            raise BmcourseError(f"not a course folder made by bmcourse assign (no {needed})", file=course,
                                fix="run `bmcourse assign --out COURSE` first and pass that folder as --course")
    return sorted(p.name for p in (course / "release").iterdir() if p.is_dir())


def release_of(course: Path, assignment: str) -> Any:
    """The released notebook of an assignment."""
    import nbformat

    return nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)


def maxima(release: Any) -> dict[str, float]:
    """Points available per exercise key in a released notebook."""
    found = {}
    for cell in release.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            found[key_and_kind(meta["grade_id"])[0]] = float(meta.get("points", 0))
    return found


def what_happened(executed: Any) -> list[str]:
    """Per exercise, why it lost points: not answered, timed out, the answer's exception, or wrong."""
    notes: dict[str, str] = {}
    for cell in executed.cells:
        gid = grade_id(cell)
        if not gid:
            continue
        key, kind = key_and_kind(gid)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        names = {o.get("ename") for o in errors}
        if kind == "answer" and cell.source.strip().splitlines()[-1:] == ["..."]:
            notes[key] = f"{key} not answered"
        elif not errors or key in notes or "NotRun" in names:
            continue
        elif "CellTimeoutError" in names or "KeyboardInterrupt" in names:
            notes[key] = f"{key} timed out"
        elif kind == "answer":
            notes[key] = f"{key} answer raised {errors[-1].get('ename')}"
        elif kind == "test":
            notes[key] = f"{key} wrong ({errors[-1].get('ename')})"
    return list(notes.values())


def _run_one(course: Path, sub: Submission, cell_timeout: int, notebook_timeout: int) -> tuple[Submission, Any, Run]:
    """Prepare and run one submission; returns what the recording step needs."""
    prepared = prepare(sub.notebook, release_of(course, sub.assignment))
    keep = course / EXECUTED / sub.student / sub.assignment / f"{sub.assignment}.ipynb"
    run = run_isolated(course, sub.student, sub.assignment, prepared.notebook, cell_timeout=cell_timeout,
                       notebook_timeout=notebook_timeout, keep=keep)
    return sub, prepared, run


def grade(submissions: Path, course: Path, out: Path, *, jobs: int = 2, cell_timeout: int = 60,
          notebook_timeout: int = 600, progress: bool = True) -> list[Row]:
    """Grade every submission; one row per student and notebook (problems included), sorted."""
    import nbformat
    from tqdm.auto import tqdm

    course = course.resolve()
    known = course_assignments(course)
    rows: list[Row] = []
    with Unpacked(submissions) as root:
        wanted = submitted_assignments(root, known)
        if not wanted:
            raise BmcourseError(f"no notebook in it is named after an assignment of {course}", file=submissions,
                                fix=f"expected SUBMISSIONS/<student>/<name>.ipynb with name one of {', '.join(known)}")
        collected = collect(root, wanted)
        runnable = [s for s in collected if s.problem is None]
        for sub in collected:
            if sub.problem is not None:
                row = Row(sub.student, sub.assignment, status=sub.problem)
                if sub.assignment in wanted:
                    row.maximum = maxima(release_of(course, sub.assignment))
                    row.points = dict.fromkeys(row.maximum, 0.0)
                rows.append(row)
        for sub in runnable:  # the raw submission, kept in nbgrader's layout for the record
            target = course / "submitted" / sub.student / sub.assignment / f"{sub.assignment}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sub.path, target)
        done = []
        bar = tqdm(total=len(runnable), desc="grading", unit="submission", disable=not progress, leave=False)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(_run_one, course, s, cell_timeout, notebook_timeout) for s in runnable]
            for future in as_completed(futures):
                done.append(future.result())
                bar.update(1)
        bar.close()
    for sub, prepared, run in sorted(done, key=lambda d: (d[0].student, d[0].assignment)):
        release = release_of(course, sub.assignment)
        keep = course / EXECUTED / sub.student / sub.assignment / f"{sub.assignment}.ipynb"
        notes = list(prepared.notes)
        if run.executed is None:
            why = "timed out" if run.timed_out else f"grading failed: {run.failure}"
            keep.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(mark_not_run(prepared.notebook, why), keep)
            notes.insert(0, "timed out (whole notebook)" if run.timed_out else why)
        else:
            refused = {key_and_kind(gid)[0] for gid in prepared.refused}
            notes += [n for n in what_happened(nbformat.read(keep, as_version=4)) if n.split()[0] not in refused]
        record(course, sub.student, sub.assignment)
        row = Row(sub.student, sub.assignment, maximum=maxima(release), seconds=round(run.seconds, 2))
        for gid, (score, _) in scores(course, sub.student, sub.assignment).items():
            row.points[key_and_kind(gid)[0]] = score
        row.status = "; ".join(["graded", *notes])
        copy_feedback(course, out, sub.student, sub.assignment)
        rows.append(row)
    return sorted(rows, key=lambda r: (r.student, r.notebook))


def copy_feedback(course: Path, out: Path, student: str, assignment: str) -> Path | None:
    """nbgrader's feedback page for one submission, copied to ``OUT/feedback/<student>/``."""
    found = sorted((course / "feedback" / student / assignment).glob("*.html"))
    if not found:
        return None
    target = out / "feedback" / student / f"{assignment}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(found[0], target)
    return target
