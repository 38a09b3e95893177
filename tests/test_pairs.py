"""Notebook sources: every notebook is a jupytext pair in sync, syncing keeps cell ids, ruff reads the sources."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from bmcourse.course.nbtools import out_of_sync, sync

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_every_notebook_has_a_source_and_back() -> None:
    assert NOTEBOOKS, "no notebooks found"
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SOURCES]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_pair_is_in_sync(path: Path) -> None:
    why = out_of_sync(path)
    assert why is None, f"{path.name} and its .py differ; run `bmcourse sync {path.name}`:\n{why}"


def _pair_in(tmp_path: Path) -> Path:
    """A copy of notebook 01's pair and the project's jupytext config in ``tmp_path``."""
    shutil.copy(ROOT / "notebooks" / "jupytext.toml", tmp_path / "jupytext.toml")
    for path in (NOTEBOOKS[0], SOURCES[0]):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / NOTEBOOKS[0].name


def test_editing_the_source_and_syncing_keeps_ids_and_outputs(tmp_path: Path) -> None:
    notebook = _pair_in(tmp_path)
    before = nbformat.read(notebook, as_version=4)
    source = notebook.with_suffix(".py")
    text = source.read_text(encoding="utf-8")
    first_code = text.index("\n# %%\n")
    source.write_text(text[:first_code] + "\n# %%\nnew_cell = 1\n" + text[first_code:], encoding="utf-8")
    assert out_of_sync(notebook) is not None  # the test below would catch a stale pair
    sync(notebook)
    after = nbformat.read(notebook, as_version=4)
    assert len(after.cells) == len(before.cells) + 1
    old_ids = [c.id for c in before.cells]
    assert [c.id for c in after.cells if c.source != "new_cell = 1"] == old_ids
    kept = [c.outputs for c in after.cells if c.cell_type == "code" and c.source != "new_cell = 1"]
    assert kept == [c.outputs for c in before.cells if c.cell_type == "code"]
    assert out_of_sync(notebook) is None


def test_editing_the_notebook_side_updates_the_source(tmp_path: Path) -> None:
    notebook = _pair_in(tmp_path)
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[0].source += "\n\nEdited in JupyterLab."
    nbformat.write(nb, notebook)
    sync(notebook)
    assert "# Edited in JupyterLab." in notebook.with_suffix(".py").read_text(encoding="utf-8")
    assert [c.id for c in nbformat.read(notebook, as_version=4).cells] == [c.id for c in nb.cells]


def test_sync_of_an_unchanged_pair_changes_nothing(tmp_path: Path) -> None:
    notebook = _pair_in(tmp_path)
    before = (notebook.read_bytes(), notebook.with_suffix(".py").read_bytes())
    sync(notebook)
    assert (notebook.read_bytes(), notebook.with_suffix(".py").read_bytes()) == before


def test_sources_are_valid_python_with_tags_kept() -> None:
    for source in SOURCES:
        compile(source.read_text(encoding="utf-8"), str(source), "exec")
        nb = jupytext.read(source, fmt="py:percent")
        assert nb.metadata["kernelspec"]["name"] == "python3"


def test_ruff_reads_package_tests_and_notebook_sources() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the test extra)")
    listed = subprocess.run([ruff, "check", "--show-files"], cwd=ROOT, capture_output=True, text=True).stdout
    assert all(str(source) in listed for source in SOURCES), "ruff must lint notebooks/*.py"
    result = subprocess.run([ruff, "check", "--output-format=concise"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
