"""``bmcourse assign``: an nbgrader course folder from the instructor notebooks. Each checked
exercise becomes a read-only exercise cell (the learner's self-check), an autograded answer cell
(the solution between nbgrader's markers) and a locked test cell worth the exercise's ``points``,
whose hidden part is the exercise's ``hidden-test`` cell; then nbgrader's ``generate_assignment``
writes ``COURSE/release/``, what students get.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmcourse.errors import BmcourseError

SETUP_TAG, EXERCISE_TAG, SOLUTION_TAG, HIDDEN_TAG = "setup", "exercise", "solution", "hidden-test"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
#: What a released answer cell holds instead of the solution.
ANSWER_STUB = "# Your answer here: write it, then run the check cell below.\n..."
SCHEMA = 3
DEFAULT_POINTS = 1
CONFIG = """\
# nbgrader configuration written by `bmcourse assign` (re-running it rewrites this file).
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = {root!r}
c.ClearSolutions.code_stub = {{"python": {stub!r}}}
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"
c.Execute.timeout = {cell_timeout}          # seconds per cell when grading (bmcourse grade --cell-timeout)
c.Execute.interrupt_on_timeout = True
c.LimitOutput.max_lines = 200              # a cell's output is cut there when grading
c.LimitOutput.max_traceback = 40
c.GenerateFeedback.force = True
"""


@dataclass(frozen=True)
class GradedExercise:
    """One exercise as nbgrader sees it: its key, points and the grade ids of its three cells."""

    key: str
    title: str
    points: int

    @property
    def exercise_id(self) -> str:
        """The read-only cell that builds the self-check."""
        return grade_id_of(self.key, "exercise")

    @property
    def answer_id(self) -> str:
        """The autograded answer cell."""
        return grade_id_of(self.key, "answer")

    @property
    def test_id(self) -> str:
        """The locked test cell: the visible check, then the hidden test."""
        return grade_id_of(self.key, "test")


def grade_id_of(key: str, kind: str) -> str:
    """nbgrader's id of an exercise's cell (letters, digits, _ and - only): ``01.2`` -> ``ex01_2-test``."""
    return f"ex{key.replace('.', '_')}-{kind}"


def key_and_kind(grade_id: str) -> tuple[str, str]:
    """``ex01_2-test`` -> ``("01.2", "test")``."""
    name, _, kind = grade_id.rpartition("-")
    return name.removeprefix("ex").replace("_", "."), kind


def tags(cell: Any) -> list[str]:
    """A cell's tags."""
    return list(cell.get("metadata", {}).get("tags", []))


def exercise_of(source: str, where: str) -> GradedExercise:
    """The ``Exercise("NN.K", "title", ..., points=P)`` built by an exercise cell, read statically."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Exercise":
            args = [a.value for a in node.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            points = next((k.value for k in node.keywords if k.arg == "points"), None)
            if len(args) < 2:
                break
            if points is not None and not (isinstance(points, ast.Constant) and isinstance(points.value, int)
                                           and points.value > 0):
                raise BmcourseError(f"exercise {args[0]}: points must be a positive whole number", file=where,
                                    fix="write points=2 (a literal) in its Exercise(...) call")
            return GradedExercise(args[0], args[1], points.value if points is not None else DEFAULT_POINTS)
    raise BmcourseError("an exercise cell builds no Exercise(\"NN.K\", \"title\", ...)", file=where,
                        fix="build the exercise in the cell tagged 'exercise' with a literal key and title")


def _nbgrader(cell: Any, grade_id: str, *, grade: bool, solution: bool, locked: bool,
              points: int | None = None) -> None:
    meta = {"schema_version": SCHEMA, "grade": grade, "solution": solution, "locked": locked,
            "task": False, "grade_id": grade_id}
    if points is not None:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta


def graded_exercises(nb: Any, where: str) -> list[tuple[int, GradedExercise]]:
    """``(index of the exercise cell, exercise)`` for every exercise; each must be followed by its
    solution, check and hidden-test cells, or the notebook cannot be graded without its answers."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or EXERCISE_TAG not in tags(cell):
            continue
        exercise = exercise_of(cell.source, where)
        group = nb.cells[index + 1:index + 4]
        wanted = [SOLUTION_TAG, None, HIDDEN_TAG]
        ok = len(group) == 3 and all(c.cell_type == "code" for c in group) and \
            all((w in tags(c)) if w else not ({SOLUTION_TAG, HIDDEN_TAG, EXERCISE_TAG} & set(tags(c)))
                for c, w in zip(group, wanted))
        if not ok:
            raise BmcourseError(
                f"exercise {exercise.key} is not followed by its solution, check and hidden-test cells, so it "
                "cannot be graded without handing out its answer", file=where,
                fix="after the exercise cell put the 'solution' cell, the check cell (exN.check(...)) and a cell "
                    "tagged 'hidden-test' that grades the answer on fresh inputs (docs/instructors.md, Grading)")
        found.append((index, exercise))
    if not found:
        raise BmcourseError("the notebook has no exercise to grade", file=where,
                            fix="choose notebooks with exercises (tag 'exercise')")
    return found


def source_notebook(nb: Any, where: str) -> tuple[Any, list[GradedExercise]]:
    """The nbgrader source version of an instructor notebook (outputs cleared) and its exercises."""
    import nbformat

    exercises = graded_exercises(nb, where)
    out = nbformat.v4.new_notebook(metadata=nb.metadata)
    out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out.metadata.pop("jupytext", None)
    starts = {index: exercise for index, exercise in exercises}
    cells, skip = [], 0
    for index, cell in enumerate(nb.cells):
        if skip:
            skip -= 1
            continue
        cell = nbformat.from_dict(dict(cell))
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if index in starts:
            exercise = starts[index]
            answer, check, hidden = (nbformat.from_dict(dict(c)) for c in nb.cells[index + 1:index + 4])
            _nbgrader(cell, exercise.exercise_id, grade=False, solution=False, locked=True)
            answer.source = f"{SOLUTION_BEGIN}\n{answer.source.rstrip()}\n{SOLUTION_END}"
            _nbgrader(answer, exercise.answer_id, grade=False, solution=True, locked=False)
            check.source = f"{check.source.rstrip()}\n{HIDDEN_BEGIN}\n{hidden.source.rstrip()}\n{HIDDEN_END}"
            _nbgrader(check, exercise.test_id, grade=True, solution=False, locked=True, points=exercise.points)
            for c in (answer, check):
                c.outputs, c.execution_count = [], None
            cells += [cell, answer, check]
            skip = 3
            continue
        cells.append(cell)
    out.cells = cells
    return out, [exercise for _, exercise in exercises]


def nbgrader_env() -> dict[str, str]:
    """The environment nbgrader's commands need: this interpreter's scripts (alembic) first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_nbgrader(args: list[str], course: Path, *, env: dict[str, str] | None = None, timeout: float | None = None,
                 what: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course``; a failure raises with nbgrader's last lines."""
    command = [sys.executable, "-m", "nbgrader", *args]
    done = subprocess.run(command, cwd=course, env=env or nbgrader_env(), capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0 or "[ERROR]" in done.stderr or "| ERROR]" in done.stderr:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-12:])
        raise BmcourseError(f"nbgrader {args[0]} failed for {what}:\n{tail}", file=course,
                            fix="see nbgrader's message above; `bmcourse assign` rewrites the course folder")
    return done


def write_config(course: Path, course_id: str, cell_timeout: int = 60) -> Path:
    """``COURSE/nbgrader_config.py`` for this course."""
    path = course / "nbgrader_config.py"
    path.write_text(CONFIG.format(course_id=course_id, root=str(course.resolve()), stub=ANSWER_STUB,
                                  cell_timeout=cell_timeout), encoding="utf-8")
    return path


def released_answers(release: Path, secrets: list[str]) -> list[str]:
    """The files of the release that contain any of ``secrets`` (a hidden test or solution line)."""
    leaks = []
    for path in sorted(release.rglob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        if any(secret in text for secret in secrets):
            leaks.append(str(path))
    return leaks


def assign(notebooks: list[Path], course: Path, course_id: str = "bmcourse") -> dict[str, list[GradedExercise]]:
    """Write the nbgrader course folder and generate the release; returns the exercises per assignment."""
    import nbformat

    from ..translate import notebook_language

    course.mkdir(parents=True, exist_ok=True)
    write_config(course, course_id)
    made: dict[str, list[GradedExercise]] = {}
    leaks: list[str] = []
    for path in notebooks:
        secrets: list[str] = []
        nb = nbformat.read(path, as_version=4)
        source, exercises = source_notebook(nb, str(path))
        source.metadata["bmcourse"] = {"language": notebook_language(path)}  # the grader's feedback language
        name = path.stem
        folder = course / "source" / name
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(source, folder / f"{name}.ipynb")
        made[name] = exercises
        for cell in source.cells:
            text = cell.source
            for begin, end in ((HIDDEN_BEGIN, HIDDEN_END), (SOLUTION_BEGIN, SOLUTION_END)):
                if begin in text:
                    inner = text.split(begin, 1)[1].split(end, 1)[0]
                    secrets += [line.strip() for line in inner.splitlines() if len(line.strip()) > 24]
        run_nbgrader(["generate_assignment", name, "--force"], course, what=name)
        leaks += released_answers(course / "release" / name, secrets)  # this notebook's secrets in its release
    if leaks:
        raise BmcourseError(f"the release still shows a solution or hidden-test line: {', '.join(leaks)}",
                            fix="this is a bug in bmcourse assign: report it; do not hand out the release")
    return made
