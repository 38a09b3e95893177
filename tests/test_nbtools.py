"""Notebook plumbing and the stored notebooks' hygiene."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from bmcourse.course.cli import main
from bmcourse.course.nbtools import normalise
from bmcourse.course.student import strip_solutions

ROOT = Path(__file__).resolve().parent.parent
STORED = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("tests/*.ipynb"))


def small_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "venv-xyz", "display_name": "x", "language": "python"},
                   "widgets": {"state": {}}, "language_info": {"name": "python", "version": "3.11.7"}}
    solution = nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"], "execution": {"iopub.status.busy": "2026-01-01T00:00:00Z"}})
    solution.outputs = [nbformat.v4.new_output("stream", name="stderr", text="warn")]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), solution, nbformat.v4.new_code_cell("check(answer)")]
    return nb


def test_normalise_kernelspec_and_metadata() -> None:
    nb = normalise(small_notebook())
    assert nb.metadata == {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                           "language_info": {"name": "python"}}
    assert nb.cells[1].metadata == {"tags": ["solution"]} and nb.cells[1].outputs == []


def test_student_copy_strips_solutions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb, count = strip_solutions(small_notebook())
    assert count == 1 and "42" not in nb.cells[1].source and nb.cells[2].source == "check(answer)"
    path = tmp_path / "01_x.ipynb"
    nbformat.write(small_notebook(), path)
    assert main(["student", str(path), "--out", str(tmp_path / "student")]) == 0
    student = nbformat.read(tmp_path / "student" / "01_x.ipynb", as_version=4)
    # cell sources and outputs only: random cell ids may contain "42" themselves
    assert not any("42" in cell.source or cell.get("outputs") for cell in student.cells)
    assert [c.source for c in student.cells][::2] == ["# t", "check(answer)"]


def test_run_summary_reads_headline_and_checkpoint_lines() -> None:
    from bmcourse.course.commands import summary_table
    from bmcourse.course.nbtools import exercises_of, headline_of

    nb = small_notebook()
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                  text="x\nheadline: entity F1 = 0.5\n2/3 exercises passed\n")]
    assert headline_of(nb) == "entity F1 = 0.5" and exercises_of(nb) == "2/3"
    assert headline_of(small_notebook()) == exercises_of(small_notebook()) == "-"
    table = summary_table([("02_x.ipynb", "ok", 12.0, "2/3", "entity F1 = 0.5"),
                           ("03_y.ipynb", "FAILED", 1.5, "-", "ValueError: bad")])
    assert "entity F1 = 0.5" in table and "ValueError: bad" in table and "13.5" in table


def test_headline_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from bmcourse import headline

    headline("accuracy", 0.91234)
    headline("checks", "9/9")
    assert capsys.readouterr().out == "headline: accuracy = 0.912\nheadline: checks = 9/9\n"


@pytest.mark.parametrize("path", STORED, ids=lambda p: p.name)
def test_stored_notebooks_are_normalised_and_executed(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb.metadata
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), "store outputs with `bmcourse store`"
    assert not any("execution" in c.metadata for c in nb.cells)


def test_normalise_drops_stateless_widget_views_and_keeps_their_text() -> None:
    nb = small_notebook()
    view = {"model_id": "random", "version_major": 2, "version_minor": 0}
    nb.cells[2].outputs = [
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": view,
                                                     "text/plain": "bar"}),
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": view}),
    ]
    outputs = normalise(nb).cells[2].outputs
    assert len(outputs) == 1 and dict(outputs[0].data) == {"text/plain": "bar"}


def test_run_reports_the_cells_exception_and_keeps_the_partial_notebook(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nb.cells = [nbformat.v4.new_code_cell("print('first cell ran')"),
                nbformat.v4.new_code_cell("raise ValueError('the tokenizer has no pad token')"),
                nbformat.v4.new_code_cell("print('never')")]
    path = tmp_path / "01_fails.ipynb"
    nbformat.write(nb, path)
    status = main(["run", str(path), "--profile", "smoke", "--out", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAILED in cell 1: ValueError: the tokenizer has no pad token" in out
    assert "0 passed, 1 failed" in out
    partial = nbformat.read(tmp_path / "runs" / "01_fails.ipynb", as_version=4)
    assert partial.cells[0].outputs[0]["text"] == "first cell ran\n"
    assert partial.cells[1].outputs[0]["ename"] == "ValueError" and not partial.cells[2].outputs


SETUP_WITH_MAGIC = '''# %% [markdown]
# # Title

# %%
import sys

if "google.colab" in sys.modules:  # on Colab only
    # %pip install --quiet "bmcourse"
    print("bmcourse installed")

# %% tags=["setup"]
x = 1
'''


def test_sync_pairs_a_source_whose_magic_is_indented(tmp_path: Path) -> None:
    """An indented `# %pip` makes jupytext guess "hydrogen"; the sources are read as py:percent."""
    from bmcourse.course.nbtools import out_of_sync, sync

    (tmp_path / "jupytext.toml").write_text('formats = "ipynb,py:percent"\n', encoding="utf-8")
    source = tmp_path / "99_magic.py"
    source.write_text(SETUP_WITH_MAGIC, encoding="utf-8")
    notebook = source.with_suffix(".ipynb")
    sync(notebook)
    code = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    assert '    %pip install --quiet "bmcourse"' in code[0].source.splitlines()
    assert code[1].metadata["tags"] == ["setup"]
    assert out_of_sync(notebook) is None
    source.write_text(SETUP_WITH_MAGIC.replace("x = 1", "x = 2"), encoding="utf-8")
    assert out_of_sync(notebook) is not None
    sync(notebook)
    assert out_of_sync(notebook) is None


def test_normalise_joins_stream_chunks_split_by_a_busy_kernel() -> None:
    nb = small_notebook()
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="risk = 0.6"),
                           nbformat.v4.new_output("stream", name="stdout", text="93\nnext line\n"),
                           nbformat.v4.new_output("display_data", data={"text/plain": "fig"}),
                           nbformat.v4.new_output("stream", name="stdout", text="after\n")]
    outputs = normalise(nb).cells[2].outputs
    assert [o.get("text") for o in outputs] == ["risk = 0.693\nnext line\n", None, "after\n"]


def test_store_keeps_outputs_that_differ_only_in_what_nbval_sanitises() -> None:
    """Storing an unchanged notebook again must not churn: new timings are not a change."""
    from bmcourse.course.nbtools import keep_equivalent_outputs, sanitisers

    rules = sanitisers(Path(__file__).parent / "nbval_sanitize.cfg")

    def notebook(*texts: str) -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook()
        for i, text in enumerate(texts):
            cell = nbformat.v4.new_code_cell("print(x)")
            cell.id = f"cell-{i}"
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
            nb.cells.append(cell)
        return nb

    old = notebook("trained in 0.42 s: 3465 parameters\n", "accuracy 0.850\n")
    new = notebook("trained in 0.43 s: 3465 parameters\n", "accuracy 0.875\n")
    assert keep_equivalent_outputs(old, new, rules) == 1
    assert new.cells[0].outputs[0].text == "trained in 0.42 s: 3465 parameters\n"  # timing only: kept
    assert new.cells[1].outputs[0].text == "accuracy 0.875\n"                      # a real change: stored


def test_store_never_keeps_an_old_figure_as_equivalent() -> None:
    """Sanitisers apply to text only: base64 image data that differs is a real change."""
    from bmcourse.course.nbtools import keep_equivalent_outputs, sanitisers

    rules = sanitisers(Path(__file__).parent / "nbval_sanitize.cfg")

    def notebook(png: str) -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("fig")
        cell.id = "plot"
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})]
        nb.cells.append(cell)
        return nb

    old, new = notebook("iVBOR+/tmp/aaaa/bbbb"), notebook("iVBOR+/tmp/cccc/dddd")  # same after the paths regex
    assert keep_equivalent_outputs(old, new, rules) == 0
    assert new.cells[0].outputs[0].data["image/png"] == "iVBOR+/tmp/cccc/dddd"


def test_cuda_varies_cells_run_but_are_not_compared_on_a_gpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)

    class Item:
        def __init__(self, tags: list[str]) -> None:
            self.cell = {"metadata": {"tags": tags}}
            self.options = {"check": True}

    items = [Item(["cuda-varies"]), Item([]), Item(["solution"])]
    monkeypatch.setenv("BMCOURSE_DEVICE", "cpu")
    conftest.pytest_collection_modifyitems(items)
    assert [i.options["check"] for i in items] == [True, True, True]
    monkeypatch.setenv("BMCOURSE_DEVICE", "cuda")
    conftest.pytest_collection_modifyitems(items)
    assert [i.options["check"] for i in items] == [False, True, True]


def test_execute_talks_to_its_kernel_over_ipc_without_the_tcp_warning(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``bmcourse run``/``store`` kernels use IPC sockets in a private folder (ipykernel warns about
    plain TCP on every start otherwise) and are shut down afterwards."""
    import os

    import jupyter_client.manager

    from bmcourse.course import nbtools

    managers = []

    class Recording(jupyter_client.manager.KernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            managers.append(self)

    monkeypatch.setattr(jupyter_client.manager, "KernelManager", Recording)
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": nbtools.KERNELSPEC})
    nb.cells.append(nbformat.v4.new_code_cell("print(6 * 7)"))
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    executed, _ = nbtools.execute(path, timeout=60)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
    assert len(managers) == 1 and not managers[0].has_kernel  # shut down, not left running
    if os.name != "nt":
        assert managers[0].transport == "ipc"
    assert "without encryption" not in capfd.readouterr().err
