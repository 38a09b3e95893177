"""Student copies (``bmcourse student``): solutions replaced, outputs cleared, and every exercise
check, run in the copy, says "not answered yet"."""
from __future__ import annotations

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


def checks_only(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """The setup cells, then each exercise with its placeholder and check cell; returns (nb, exercises)."""
    cells, exercises = [], 0
    code = [c for c in nb.cells if c.cell_type == "code"]
    cells += [c for c in code if "setup" in tags(c)]
    for index, cell in enumerate(code):
        if "exercise" in tags(cell):
            assert "solution" in tags(code[index + 1]), "an exercise cell is followed by its solution"
            cells += code[index:index + 3]
            exercises += 1
    copy = nbformat.v4.new_notebook(metadata=nb.metadata)
    copy.cells = cells
    return copy, exercises


def printed(nb: nbformat.NotebookNode) -> str:
    return "".join("".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs if o.get("output_type") == "stream")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_in_a_student_copy_reports_not_answered(path: Path, student_dir: Path) -> None:
    """Executes the student copy's setup, exercise, placeholder and check cells in a kernel."""
    nb, exercises = checks_only(nbformat.read(student_dir / path.name, as_version=4))
    run_path = student_dir / f"checks_{path.name}"
    nbformat.write(nb, run_path)
    try:
        executed, _ = execute(run_path, timeout=600)
    except NotebookFailed as failed:
        pytest.fail(f"{path.name} student copy: cell {failed.cell} raised {failed.ename}: {failed.evalue}")
    text = printed(executed)
    assert exercises and text.count(NOT_ANSWERED) == exercises, text
    assert "✅" not in text and "❌" not in text


def test_a_whole_student_notebook_runs_and_counts_no_exercise_passed(student_dir: Path) -> None:
    """Notebook 01 top to bottom as a learner gets it: every check waits for an answer, the summary counts 0."""
    path = student_dir / "01_loss_and_gradients.ipynb"
    executed, _ = execute(path, timeout=600)
    text = printed(executed)
    exercises = sum("exercise" in tags(c) for c in executed.cells)
    assert text.count(NOT_ANSWERED) == exercises == 7
    assert f"0/{exercises} exercises passed" in text


def test_keep_outputs_keeps_only_the_cells_that_give_nothing_away(tmp_path: Path) -> None:
    path = ROOT / "notebooks" / "01_loss_and_gradients.ipynb"
    assert main(["student", str(path), "--out", str(tmp_path), "--keep-outputs"]) == 0
    original = nbformat.read(path, as_version=4)
    original.cells = [c for c in original.cells if "hidden-test" not in tags(c)]  # left out of student copies
    student = nbformat.read(tmp_path / path.name, as_version=4)
    assert len(student.cells) == len(original.cells)
    after_solution = False
    for old, new in zip(original.cells, student.cells):
        if old.cell_type != "code":
            continue
        answer = bool({"exercise", "solution"} & set(tags(old))) or after_solution or "checkpoint(" in old.source
        assert (new.outputs == []) if answer else (new.outputs == old.outputs), new.source[:60]
        after_solution = "solution" in tags(old)
    assert any(c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert "exercises passed" not in nbformat.writes(student)  # no stored tally handed out
