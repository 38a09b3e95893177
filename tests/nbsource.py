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


def squash(text: str) -> str:
    """``text`` without any whitespace, so code compares whatever its spacing."""
    return re.sub(r"\s+", "", text)


def the_exercise(namespace: dict[str, Any], exercise_id: str) -> Any:
    """The ``Exercise`` object with key ``exercise_id`` in a namespace."""
    return next(v for v in namespace.values() if getattr(v, "key", None) == exercise_id)


def extra_draws() -> int:
    """The draw count ``BMCOURSE_HIDDEN_DRAWS`` asks for (1 when unset)."""
    import os

    return int(os.environ.get("BMCOURSE_HIDDEN_DRAWS", "1"))


class Exercises:
    """The test helpers of one notebook's graded exercises (every ``tests/test_nbNN_*`` file uses them).

    ``names`` maps each exercise to ``(the function the learner writes, its points)``. With ``cached``
    the setup and exercise cells run once per exercise and each call gets a copy (for a setup that
    loads a model); ``runs`` is how many fresh draws of a hidden test a wrong answer must fail.
    ``BMCOURSE_HIDDEN_DRAWS=N`` raises every such count to at least N: a hunt for hidden tests that
    a wrong answer passes on some draws (a flaky test in CI, a lucky student in grading)."""

    def __init__(self, prefix: str, names: dict[str, tuple[str, int]], *, cached: bool = False,
                 runs: int = 1) -> None:
        self.prefix, self.names, self.runs = prefix, names, max(runs, extra_draws())
        self._cache: dict[tuple[str, bool], tuple[tuple[str, Any], ...]] | None = {} if cached else None

    def namespace(self, exercise_id: str, solved: bool = False) -> dict[str, Any]:
        """The setup and exercise cells run (and the solution if ``solved``); a fresh Exercise object."""
        if self._cache is None:
            return exercise(self.prefix, exercise_id, solved=solved)
        key = (exercise_id, solved)
        if key not in self._cache:
            self._cache[key] = tuple(exercise(self.prefix, exercise_id, solved=solved).items())
        ns = dict(self._cache[key])
        name = next(k for k, v in ns.items() if getattr(v, "key", None) == exercise_id)
        old = ns[name]  # a new copy, so attempts never carry over from another test
        ns[name] = type(old)(old.key, old.title, old.checker, hints=old.hints, points=old.points)
        return ns

    def solved(self, exercise_id: str) -> dict[str, Any]:
        """The setup cells, the exercise cell and its solution cell, run from the notebook source."""
        return self.namespace(exercise_id, solved=True)

    def answered(self, exercise_id: str, answer: Any) -> dict[str, Any]:
        """The setup and exercise cells, then a learner's answer: a function, or the source of an answer
        cell (run in the notebook namespace, as a learner's cell is, so names it uses are the notebook's)."""
        ns = self.namespace(exercise_id)
        if isinstance(answer, str):
            run(answer, ns)
        else:
            ns[self.names[exercise_id][0]] = answer
        return ns

    def self_check(self, exercise_id: str, answer: Any) -> Any:
        """The visible check's Result for ``answer``."""
        ns = self.answered(exercise_id, answer)
        return the_exercise(ns, exercise_id).check(ns[self.names[exercise_id][0]])

    def hidden(self, exercise_id: str, answer: Any) -> None:
        """Run the hidden test on ``answer`` (on ``BMCOURSE_HIDDEN_DRAWS`` fresh draws); raises when it fails."""
        ns = self.answered(exercise_id, answer)
        for _ in range(extra_draws()):
            run_hidden_test(self.prefix, exercise_id, ns)

    def fails_hidden(self, exercise_id: str, answer: Any, forbidden: bool = False, runs: int | None = None) -> str:
        """The hidden test fails on ``answer`` on each of ``runs`` fresh draws (with ForbiddenCall if
        ``forbidden``; else with an AssertionError, or with the error a wrong answer raises on inputs it
        does not handle, which fails the graded cell as well); returns the last message."""
        import pytest

        from bmcourse.graded import ForbiddenCall

        ns = self.answered(exercise_id, answer)
        for _ in range(self.runs if runs is None else max(runs, extra_draws())):
            with pytest.raises(ForbiddenCall if forbidden else Exception) as failure:
                run_hidden_test(self.prefix, exercise_id, ns)
            if not forbidden:
                assert not isinstance(failure.value, ForbiddenCall), failure.value
        return str(failure.value)

    def passes_self_check_fails_hidden(self, exercise_id: str, answer: Any, forbidden: bool) -> None:
        """The learner sees ✅ for ``answer`` while working, but grading gives it nothing."""
        assert self.self_check(exercise_id, answer).passed
        self.fails_hidden(exercise_id, answer, forbidden=forbidden)

    def fails_both(self, exercise_id: str, answer: Any, draws: int = 1) -> Any:
        """``answer`` fails the self-check and the hidden test (``draws`` times, each draw must fail)."""
        result = self.self_check(exercise_id, answer)
        assert not result.passed, result.message
        for _ in range(draws):
            self.fails_hidden(exercise_id, answer)
        return result
