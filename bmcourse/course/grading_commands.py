"""The instructor's commands: ``bmcourse assign`` (an nbgrader course folder and its release from
the instructor notebooks), ``bmcourse grade`` (grades, feedback, summary from the submissions) and
``bmcourse bench grade`` (how long grading takes).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bmcourse.errors import BmcourseError

from .options import UsageError

NOTEBOOKS = Path("notebooks")


def _instructor_notebooks(given: list[str]) -> list[Path]:
    """The notebooks to assign: the given ones, or every course notebook."""
    from bmcourse.concepts import NOTEBOOK_FILES

    paths = [Path(g) for g in given] or [NOTEBOOKS / name for name in sorted(NOTEBOOK_FILES.values())]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise BmcourseError(f"no such notebook: {', '.join(missing)}",
                            fix="run from the course checkout (notebooks/ holds the instructor copies) or name them")
    return [p.with_suffix(".ipynb") for p in paths]


def gradable(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """The notebooks whose every exercise has its hidden test, and one line for each one left out."""
    import nbformat

    from .grading.assign import graded_exercises

    keep, skipped = [], []
    for path in paths:
        try:
            graded_exercises(nbformat.read(path, as_version=4), str(path))
            keep.append(path)
        except BmcourseError as error:
            skipped.append(f"{path.name}: not assigned: {error.problem}")
    return keep, skipped


def cmd_assign(args: argparse.Namespace) -> int:
    """``bmcourse assign``: write the nbgrader course folder and generate the release."""
    from .commands import in_language
    from .grading.assign import assign

    notebooks = in_language(_instructor_notebooks(args.notebooks), args.lang)
    if not args.notebooks:  # every course notebook that can be graded; the others are named, not hidden
        notebooks, skipped = gradable(notebooks)
        for line in skipped:
            print(f"bmcourse: {line}", file=sys.stderr)
        if not notebooks:
            raise BmcourseError("no course notebook can be graded yet (no exercise has a hidden test)",
                                fix="add hidden-test cells (docs/instructors.md, Grading)")
    made = assign(notebooks, Path(args.out), course_id=args.course_id)
    for name, exercises in made.items():
        points = sum(e.points for e in exercises)
        print(f"{name}: {len(exercises)} graded exercises, {points} points")
    print(f"course folder: {args.out} (release/ is what students get; source/ and gradebook.db stay with you)")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    """``bmcourse grade``: grade every submission; grades.csv, feedback/, summary.png and a table."""
    from .grading.grade import grade
    from .grading.report import plot_summary, table, write_csv

    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1 (fix: e.g. --jobs 2)")
    out = Path(args.out)
    rows = grade(Path(args.submissions), Path(args.course), out, jobs=args.jobs, cell_timeout=args.cell_timeout,
                 notebook_timeout=args.notebook_timeout, progress=sys.stderr.isatty())
    write_csv(rows, out / "grades.csv")
    plot_summary(rows, out / "summary.png")
    print(table(rows))
    print(f"wrote {out / 'grades.csv'}, {out / 'summary.png'} and {out / 'feedback'}/")
    return 0


def bench_grade(args: argparse.Namespace) -> int:
    """``bmcourse bench grade``: time grading fabricated submissions of one notebook; JSON to --out."""
    from bmcourse.bench import write_json

    from .grading.bench import bench_grade as run

    payload = run(Path(args.notebook), submissions=args.submissions, jobs=args.jobs, singles=args.singles)
    write_json(payload, args.out)
    print(f"{payload['submissions']} submissions in {payload['seconds']} s with {payload['jobs']} jobs: "
          f"{payload['ratio_to_single_runs_over_jobs']}x (single-run time x submissions / jobs); goal <= 1.3")
    return 0


def add_grading_parsers(sub: object, leaf: object) -> None:
    """The ``assign`` and ``grade`` sub-commands."""
    assign = leaf(sub, "assign", cmd_assign, help="write an nbgrader course folder and its release (instructors)")
    assign.add_argument("notebooks", nargs="*", help="instructor notebooks (default: every course notebook)")
    assign.add_argument("--out", required=True, help="the course folder to write (COURSE)")
    assign.add_argument("--course-id", default="bmcourse", help="nbgrader's course id (default: bmcourse)")
    assign.add_argument("--lang", choices=["en", "zh-CN"], default="en",
                        help="the edition to assign: en (notebooks/) or zh-CN (notebooks/zh-CN/, Chinese text; "
                             "its hidden tests are the English ones)")
    grade = leaf(sub, "grade", cmd_grade, help="grade submissions: grades.csv, feedback, summary.png")
    grade.add_argument("submissions", help="SUBMISSIONS/<student>/<notebook>.ipynb, or an LMS zip of that layout")
    grade.add_argument("--course", required=True, help="the course folder made by bmcourse assign")
    grade.add_argument("--out", required=True, help="folder for grades.csv, summary.png and feedback/")
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="submissions graded at once (default: the number of CPU cores)")
    grade.add_argument("--cell-timeout", type=int, default=60, help="seconds a graded cell may run (default 60)")
    grade.add_argument("--notebook-timeout", type=int, default=600,
                       help="seconds one submission may take in all (default 600)")
