"""The course's one gradebook: each notebook executed in isolation is recorded by nbgrader's own
``autograde`` in the course folder with execution left out (nbgrader's rule gives a test cell its
points when it shows no error), then nbgrader's ``generate_feedback`` writes the feedback pages,
and the scores are read back from the gradebook.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

EXECUTED = "executed"  # the course sub-folder with the notebooks run in isolation (what is recorded)
NOT_RUN = "not run when graded: {why}"


def _api(course: Path, submitted: str = "submitted") -> Any:
    """nbgrader's API on the course, reading ``submitted`` as the submissions folder."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        DeduplicateIds,
        IgnorePattern,
        LimitOutput,
        OverwriteKernelspec,
        SaveAutoGrades,
    )
    from traitlets.config import Config, PyFileConfigLoader

    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):  # nbgrader runs `alembic` by name
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    extra = Config()
    extra.CourseDirectory.root = str(course.resolve())
    extra.CourseDirectory.submitted_directory = submitted
    extra.Autograde.sanitize_preprocessors = [DeduplicateIds, OverwriteKernelspec, CheckCellMetadata]
    extra.Autograde.autograde_preprocessors = [IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                               SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    config.merge(extra)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def mark_not_run(notebook: Any, why: str) -> Any:
    """``notebook`` with an error output on every test cell: nothing ran, so nothing scores."""
    import nbformat

    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            cell.outputs = [nbformat.v4.new_output("error", ename="NotRun", evalue=NOT_RUN.format(why=why),
                                                   traceback=[NOT_RUN.format(why=why)])]
    return notebook


def record(course: Path, student: str, assignment: str) -> None:
    """Record ``COURSE/executed/<student>/<assignment>`` in the gradebook (no execution) and write
    its feedback page; raises with nbgrader's log when either fails."""
    import warnings

    api = _api(course, EXECUTED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's session notes from inside nbgrader: not ours to fix
        _record(api, course, student, assignment)


def _record(api: Any, course: Path, student: str, assignment: str) -> None:
    """nbgrader's autograde (recording only) and generate_feedback for one submission."""
    from bmcourse.errors import BmcourseError

    for step, result in (("autograde", lambda: api.autograde(assignment, student, force=True, create=True)),
                         ("generate_feedback", lambda: api.generate_feedback(assignment, student, force=True))):
        outcome = result()
        if not outcome.get("success"):
            tail = (outcome.get("error") or outcome.get("log") or "").strip().splitlines()[-3:]
            raise BmcourseError(f"nbgrader {step} failed for {student}/{assignment}: {' | '.join(tail)}",
                                file=course, fix="see nbgrader's message; the other submissions are graded")


def scores(course: Path, student: str, assignment: str) -> dict[str, tuple[float, float]]:
    """``{grade id: (score, max score)}`` of one recorded submission, from the gradebook."""
    from nbgrader.api import Gradebook

    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
    with Gradebook(f"sqlite:///{course.resolve() / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {grade.name: (float(grade.score), float(grade.max_score))
                for notebook in submission.notebooks for grade in notebook.grades}
