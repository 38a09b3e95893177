"""The student copy of a notebook (``bmcourse student``): solutions replaced, answers' outputs cleared.

A cell tagged ``solution`` gets a placeholder instead of its source; a cell tagged ``hidden-test``
(what ``bmcourse grade`` runs) is left out; every output goes, or with ``keep_outputs`` only those
that would give an answer away: the exercise, the solution and the check right after a solution.
"""
from __future__ import annotations

from typing import Any

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
HIDDEN_TAG = "hidden-test"
STUDENT_PLACEHOLDER = "# Your solution here: write the code, then run the check cell below.\n"


def answer_cells(nb: Any) -> set[int]:
    """Indices of the cells that give an answer away: exercise, solution, the check right after a solution,
    and any cell that prints the exercise tally (``checkpoint(...)``: a stored "7/7 exercises passed")."""
    found: set[int] = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "checkpoint(" in cell.source:
            found.add(index)
        tags = cell.metadata.get("tags", [])
        if EXERCISE_TAG in tags or SOLUTION_TAG in tags:
            found.add(index)
            if SOLUTION_TAG in tags and index + 1 < len(nb.cells) and nb.cells[index + 1].cell_type == "code":
                found.add(index + 1)
    return found


def strip_solutions(nb: Any, keep_outputs: bool = False) -> tuple[Any, int]:
    """Replace the source of cells tagged ``solution`` by a placeholder, drop ``hidden-test`` cells and clear
    outputs; returns (nb, count).

    Every output goes, unless ``keep_outputs``: then only the exercise, solution and check cells lose theirs.
    """
    count = 0
    nb.cells = [cell for cell in nb.cells if HIDDEN_TAG not in cell.metadata.get("tags", [])]
    answers = answer_cells(nb)
    for index, cell in enumerate(nb.cells):
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            cell.source = STUDENT_PLACEHOLDER if cell.cell_type == "code" else "*Your answer here.*"
            count += 1
        if cell.cell_type == "code" and (not keep_outputs or index in answers):
            cell.outputs, cell.execution_count = [], None
    return nb, count
