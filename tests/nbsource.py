"""Run cells taken from the notebook sources (``notebooks/NN_name.py``), so tests check the code
learners see, not a copy of it.

Conventions in the sources:
- cells tagged ``setup`` hold imports and constants; they run first, in order;
- the cell that builds exercise ``NN.K`` contains ``Exercise("NN.K"`` and is tagged ``exercise``;
  it runs on top of the setup cells and must not need anything else;
- the cell right after it tagged ``solution`` is the reference answer;
- then the check cell (no tag), and, where the exercise is graded, a cell tagged ``hidden-test`` that
  grades the answer on inputs drawn at grading time (``bmcourse.graded``); it prints nothing.
"""
from __future__ import annotations

import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import jupytext

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@lru_cache(maxsize=None)
def _cells(prefix: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(source, tags) of every code cell of the notebook whose name starts with ``prefix``."""
    matches = sorted(NOTEBOOKS.glob(f"{prefix}_*.py"))
    if len(matches) != 1:
        raise FileNotFoundError(f"expected one notebooks/{prefix}_*.py, found {matches}")
    nb = jupytext.read(matches[0], fmt="py:percent")  # explicit: an indented magic reads as "hydrogen"
    return tuple((c.source, tuple(c.metadata.get("tags", ()))) for c in nb.cells if c.cell_type == "code")


def _exercise_index(prefix: str, exercise: str) -> int:
    pattern = re.compile(r"Exercise\(\s*[\"']" + re.escape(exercise) + r"[\"']")
    found = [i for i, (src, _) in enumerate(_cells(prefix)) if pattern.search(src)]
    if len(found) != 1:
        raise LookupError(f"exercise {exercise}: expected one cell building it in {prefix}, found {len(found)}")
    return found[0]


def exercise_cell(prefix: str, exercise: str) -> str:
    """The source of the cell that builds ``exercise`` (must be tagged ``exercise``)."""
    src, tags = _cells(prefix)[_exercise_index(prefix, exercise)]
    assert "exercise" in tags, f"the cell building {exercise} must be tagged 'exercise'"
    return src


def solution_cell(prefix: str, exercise: str) -> str:
    """The source of the ``solution`` cell that follows the exercise cell."""
    cells = _cells(prefix)
    src, tags = cells[_exercise_index(prefix, exercise) + 1]
    assert "solution" in tags, f"the cell after {exercise} must be its solution (tagged 'solution')"
    return src


def check_cell(prefix: str, exercise: str) -> str:
    """The source of the check cell that follows the solution cell (no exercise/solution/hidden-test tag)."""
    src, tags = _cells(prefix)[_exercise_index(prefix, exercise) + 2]
    assert not {"exercise", "solution", "hidden-test"} & set(tags), f"the cell after {exercise}'s solution is its check"
    return src


def hidden_test_cell(prefix: str, exercise: str) -> str:
    """The source of the ``hidden-test`` cell right after the exercise's check cell."""
    cells = _cells(prefix)
    index = _exercise_index(prefix, exercise) + 3
    assert index < len(cells) and "hidden-test" in cells[index][1], \
        f"the cell after {exercise}'s check must be its hidden test (tagged 'hidden-test')"
    return cells[index][0]


class _Main:
    """Stands in for ``sys.modules["__main__"]`` while a hidden test runs: ``vars()`` of it is the
    notebook namespace, as a kernel's user namespace is, so ``graded.forbidden`` also disables a
    forbidden function that the notebook imported by name."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.__dict__ = namespace


def run_hidden_test(prefix: str, exercise_id: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run ``exercise_id``'s hidden-test cell in ``namespace`` (where the answer is defined); it raises
    AssertionError (or ``graded.ForbiddenCall``) when the answer is wrong or uses a forbidden function."""
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = _Main(namespace)
    try:
        return run(hidden_test_cell(prefix, exercise_id), namespace)
    finally:
        sys.modules["__main__"] = saved


def run(source: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Execute notebook ``source`` (the project's own code, never learner input) in ``namespace``."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    exec(compile(code, "<notebook cell>", "exec"), namespace)  # noqa: S102 - our notebook sources
    return namespace


def exercise(prefix: str, exercise_id: str, *, solved: bool = False) -> dict[str, Any]:
    """A namespace with the setup cells and the exercise cell run (and its solution if ``solved``)."""
    namespace: dict[str, Any] = {"__name__": f"notebook_{prefix}"}
    for src, tags in _cells(prefix):
        if "setup" in tags:
            run(src, namespace)
    run(exercise_cell(prefix, exercise_id), namespace)
    if solved:
        run(solution_cell(prefix, exercise_id), namespace)
    return namespace


def check_placeholder_then_solution(prefix: str, exercise_id: str, ex: str, answer: str) -> None:
    """The exercise cell alone leaves ``answer`` unanswered (and its check fails without counting an
    attempt); with the solution cell the check passes."""
    fresh = exercise(prefix, exercise_id)
    assert fresh[answer] is Ellipsis
    assert not fresh[ex].check(fresh[answer]).passed and fresh[ex].attempts == 0
    solved = exercise(prefix, exercise_id, solved=True)
    assert solved[ex].check(solved[answer]).passed
