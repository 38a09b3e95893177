"""The student copy of a notebook (``bmcourse student``): solutions replaced, answers' outputs cleared.

A cell tagged ``solution`` gets a placeholder instead of its source; a cell tagged ``hidden-test``
(what ``bmcourse grade`` runs) is left out; every output goes, or with ``keep_outputs`` only those
that would give an answer away: the exercise, the solution, the check right after a solution, and
every later cell that uses a name a solution defines (its output was computed from the answer).
"""
from __future__ import annotations

import ast
import re
from typing import Any

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
HIDDEN_TAG = "hidden-test"
STUDENT_PLACEHOLDER = "# Your solution here: write the code, then run the check cell below.\n"


_MAGIC = re.compile(r"^\s*[%!].*$", re.MULTILINE)


def _parsed(source: str) -> ast.Module | None:
    """A code cell's syntax tree with IPython magics and shell lines blanked; None when it does not parse."""
    try:
        return ast.parse(_MAGIC.sub("", source))
    except SyntaxError:
        return None


def bound_names(source: str) -> set[str]:
    """The names a cell binds at its top level (functions, classes, assignments, imports)."""
    tree = _parsed(source)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:
            targets = [t for n in ast.walk(node) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))
                       for t in (n.targets if isinstance(n, ast.Assign) else [n.target])]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def uses_any(source: str, names: set[str]) -> bool:
    """Whether a cell reads one of ``names`` (a cell that does not parse counts as reading them)."""
    tree = _parsed(source)
    if tree is None:
        return bool(names)
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(tree))


def answer_cells(nb: Any) -> set[int]:
    """Indices of the cells that give an answer away: exercise, solution, the check right after a solution,
    any later cell that reads a name a solution binds (its output comes from the answer), and any cell that
    prints the exercise tally (``checkpoint(...)``: a stored "7/7 exercises passed")."""
    found: set[int] = set()
    answers: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        if "checkpoint(" in cell.source or (answers and uses_any(cell.source, answers)):
            found.add(index)
        if EXERCISE_TAG in tags or SOLUTION_TAG in tags:
            found.add(index)
            if SOLUTION_TAG in tags:
                answers |= bound_names(cell.source)
                if index + 1 < len(nb.cells) and nb.cells[index + 1].cell_type == "code":
                    found.add(index + 1)
    return found


def strip_solutions(nb: Any, keep_outputs: bool = False) -> tuple[Any, int]:
    """Replace the source of cells tagged ``solution`` by a placeholder, drop ``hidden-test`` cells and clear
    outputs; returns (nb, count).

    Every output goes, unless ``keep_outputs``: then only the cells :func:`answer_cells` names lose theirs.
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
