"""``bmcourse bench grade``: how long grading takes. It builds a course for one notebook,
fabricates correct submissions from its solutions, times a few single submissions alone (the
single-run time), then grades all of them with ``--jobs`` workers, and reports the ratio of that
wall time to (total single-run time / jobs), the issue's goal being at most 1.3.
"""
from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from bmcourse import reference

from .assign import SOLUTION_BEGIN, SOLUTION_END, assign
from .grade import grade


def solution_of(source: str) -> str:
    """The code between nbgrader's solution markers of a source cell."""
    return source.split(SOLUTION_BEGIN, 1)[1].split(SOLUTION_END, 1)[0].strip("\n")


def fabricate(course: Path, assignment: str, students: list[str], into: Path) -> Path:
    """Correct submissions: the release with each answer cell holding the source's solution."""
    import nbformat

    source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: solution_of(c.source) for c in source.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    release = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in release.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    for student in students:
        folder = into / student
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(release, folder / f"{assignment}.ipynb")
    return into


def bench_grade(notebook: Path, submissions: int = 60, jobs: int = 2, singles: int = 5) -> dict[str, Any]:
    """Grade ``submissions`` fabricated submissions of ``notebook``; returns the JSON payload."""
    import os

    assignment = notebook.stem
    with tempfile.TemporaryDirectory(prefix="bmcourse-bench-grade-") as tmp:
        course = Path(tmp) / "course"
        assign([notebook], course)
        single_seconds = []
        for k in range(singles):
            one = fabricate(course, assignment, [f"single{k:02d}"], Path(tmp) / f"single{k}")
            started = time.perf_counter()
            rows = grade(one, course, Path(tmp) / "grades-single", jobs=1, progress=False)
            single_seconds.append(time.perf_counter() - started)
            assert rows and rows[0].total == rows[0].max_total, rows[0].status
        many = fabricate(course, assignment, [f"student{k:03d}" for k in range(submissions)], Path(tmp) / "many")
        started = time.perf_counter()
        rows = grade(many, course, Path(tmp) / "grades", jobs=jobs, progress=False)
        seconds = time.perf_counter() - started
    single = sum(single_seconds) / len(single_seconds)
    ideal = single * submissions / jobs
    return {"notebook": assignment, "submissions": submissions, "jobs": jobs, "seconds": round(seconds, 1),
            "seconds_per_submission": round(seconds / submissions, 3),
            "single_run_seconds": round(single, 3), "single_runs_timed": singles,
            "total_single_run_seconds": round(single * submissions, 1),
            "ratio_to_single_runs_over_jobs": round(seconds / ideal, 3), "goal_ratio": 1.3,
            "all_full_marks": all(r.total == r.max_total for r in rows),
            **reference.provenance(model={"name": "none (grading runs no model)"},
                                   data_source=f"{submissions} fabricated correct submissions of {assignment}",
                                   command=reference.command_line()),
            "platform": platform.platform(), "cpu_count": os.cpu_count()}
