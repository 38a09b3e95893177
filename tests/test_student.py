"""Student copies (``bmcourse student``): solutions replaced, outputs cleared, and every exercise
check, run in the copy, says "not answered yet"."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from bmcourse.concepts import NOTEBOOK_FILES
from bmcourse.course.cli import main
from bmcourse.course.nbtools import NotebookFailed, execute
from bmcourse.course.student import STUDENT_PLACEHOLDER

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [ROOT / "notebooks" / name for name in sorted(NOTEBOOK_FILES.values())]
NOT_ANSWERED = "not answered yet"


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.metadata.get("tags", [])


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Student copies of every notebook, made by the CLI from the repository's notebooks."""
    out = tmp_path_factory.mktemp("student")
    assert main(["student", *map(str, NOTEBOOKS), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_hides_every_solution_and_output(path: Path, student_dir: Path) -> None:
    original = nbformat.read(path, as_version=4)
    student = nbformat.read(student_dir / path.name, as_version=4)
    solutions = [c.source for c in original.cells if "solution" in tags(c)]
    assert solutions, f"{path.name} has no solution cells"
    assert [c.source for c in student.cells if "solution" in tags(c)] == [STUDENT_PLACEHOLDER] * len(solutions)
    assert not any(c.get("outputs") for c in student.cells if c.cell_type == "code")
    student_sources = [c.source for c in student.cells]
    assert not any(s in student_sources for s in solutions)
    # everything else is the instructor's notebook unchanged (same cells, same order)
    assert [c.source for c in student.cells if "solution" not in tags(c)] == \
           [c.source for c in original.cells if "solution" not in tags(c) and "hidden-test" not in tags(c)]
    assert not any("hidden-test" in tags(c) for c in student.cells)  # what bmcourse grade runs stays home


def printed(nb: nbformat.NotebookNode) -> str:
    return "".join("".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs if o.get("output_type") == "stream")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_whole_student_notebook_runs_and_counts_no_exercise_passed(path: Path, student_dir: Path) -> None:
    """Each notebook top to bottom as a learner gets it, nothing answered: no later cell needs an answer
    (an unanswered exercise never stops the run), every check waits for an answer, the summary counts 0."""
    try:
        executed, _ = execute(student_dir / path.name, timeout=900)
    except NotebookFailed as failed:
        pytest.fail(f"{path.name} student copy, nothing answered: cell {failed.cell} raised "
                    f"{failed.ename}: {failed.evalue}")
    text = printed(executed)
    exercises = sum("exercise" in tags(c) for c in executed.cells)
    assert exercises and text.count(NOT_ANSWERED) == exercises, text
    assert "✅" not in text and "❌" not in text
    assert f"0/{exercises} exercises passed" in text


#: Sections that teach nothing new to practise: the glossary, an open exploration, the shipped reference
#: results and the summary. Every other section has an exercise (docs/instructors.md says so).
NO_EXERCISE = re.compile(r"^## (\d+ · )?(Glossary|Explore|Reference results|Summary)")


def sections(nb: nbformat.NotebookNode) -> list[tuple[str, list[nbformat.NotebookNode]]]:
    """(heading, cells) for each ``## `` section, in reading order."""
    found: list[tuple[str, list[nbformat.NotebookNode]]] = []
    for cell in nb.cells:
        heading = next((line for line in cell.source.splitlines() if line.startswith("## ")), None)
        if cell.cell_type == "markdown" and heading:
            found.append((heading, []))
        elif found:
            found[-1][1].append(cell)
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_teaching_section_has_an_exercise(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    teaching = [(title, cells) for title, cells in sections(nb) if not NO_EXERCISE.match(title)]
    assert teaching, f"{path.name}: no sections found"
    missing = [title for title, cells in teaching if not any("exercise" in tags(c) for c in cells)]
    assert not missing, f"{path.name}: sections without an exercise: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_keep_outputs_keeps_only_the_cells_that_give_nothing_away(path: Path, tmp_path: Path) -> None:
    assert main(["student", str(path), "--out", str(tmp_path), "--keep-outputs"]) == 0
    original = nbformat.read(path, as_version=4)
    original.cells = [c for c in original.cells if "hidden-test" not in tags(c)]  # left out of student copies
    student = nbformat.read(tmp_path / path.name, as_version=4)
    assert len(student.cells) == len(original.cells)
    answers: set[str] = set()  # names the solutions bind, read straight off their sources
    after_solution = False
    for old, new in zip(original.cells, student.cells):
        if old.cell_type != "code":
            continue
        uses_answer = bool(answers & set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", old.source)))
        answer = bool({"exercise", "solution"} & set(tags(old))) or after_solution or "checkpoint(" in old.source
        if answer or uses_answer:
            assert new.outputs == [], f"{path.name}: output kept for a cell that shows an answer: {old.source[:60]}"
        elif not answer and not uses_answer:
            assert new.outputs == old.outputs, new.source[:60]
        after_solution = "solution" in tags(old)
        if after_solution:
            answers |= set(re.findall(r"^(?:def |class )?([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(|=[^=])", old.source, re.M))
    assert any(c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert "exercises passed" not in nbformat.writes(student)  # no stored tally handed out


def test_keep_outputs_clears_a_later_cell_that_uses_the_answer(tmp_path: Path) -> None:
    """A cell after the check that calls the learner's function would show the answer's result: cleared."""
    from bmcourse.course.student import strip_solutions

    new = nbformat.v4
    cells = [new.new_code_cell("x = 2", outputs=[new.new_output("stream", text="set\n")]),
             new.new_code_cell("ex = 1", metadata={"tags": ["exercise"]}),
             new.new_code_cell("def double(v):\n    return 2 * v", metadata={"tags": ["solution"]}),
             new.new_code_cell("print('checked')", outputs=[new.new_output("stream", text="checked\n")]),
             new.new_code_cell("print(x + 1)", outputs=[new.new_output("stream", text="3\n")]),
             new.new_code_cell("if callable(double):\n    print(double(21))",
                               outputs=[new.new_output("stream", text="42\n")])]
    nb, count = strip_solutions(new.new_notebook(cells=cells), keep_outputs=True)
    assert count == 1
    assert [bool(c.outputs) for c in nb.cells] == [True, False, False, False, True, False]
