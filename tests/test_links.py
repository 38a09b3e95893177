"""The repository address lives in pyproject.toml only; badges and Colab install lines follow it."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bmcourse import BmcourseError
from bmcourse.concepts import NOTEBOOK_FILES
from bmcourse.course import links
from bmcourse.session import describe_runtime

ROOT = Path(__file__).resolve().parent.parent


def test_readme_and_notebooks_agree_with_pyproject() -> None:
    assert links.stale(ROOT) == [], "run `bmcourse links`"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    repo = links.repository_url(ROOT)
    for name in sorted(NOTEBOOK_FILES.values()):
        assert links.colab_url(repo, f"notebooks/{name}") in readme
        assert links.install_line(repo) in (ROOT / "notebooks" / name).read_text(encoding="utf-8").replace('\\"', '"')
    assert links.binder_url(repo) in readme


def fork(tmp_path: Path, url: str) -> Path:
    """A copy of the README, pyproject and notebook sources with another repository address."""
    for name in ("README.md", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "notebooks").mkdir()
    for path in (ROOT / "notebooks").glob("[0-9]*"):
        shutil.copy(path, tmp_path / "notebooks" / path.name)
    shutil.copy(ROOT / "notebooks" / "jupytext.toml", tmp_path / "notebooks" / "jupytext.toml")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(links.repository_url(ROOT), url))
    return tmp_path


def test_a_fork_changes_one_line_and_one_command_rewrites_the_rest(tmp_path: Path) -> None:
    root = fork(tmp_path, "https://github.com/someone/my-course")
    assert sorted(Path(p).name for p in links.stale(root)) == sorted(
        ["README.md"] + [Path(name).with_suffix(".py").name for name in NOTEBOOK_FILES.values()])
    links.write(root)
    assert links.stale(root) == []
    readme = (root / "README.md").read_text()
    assert "colab.research.google.com/github/someone/my-course/blob/main/notebooks/02_ner_finetuning.ipynb" in readme
    assert "mybinder.org/v2/gh/someone/my-course/" in readme and "github.com/bmcourse/bmcourse" not in readme
    synced = (root / "notebooks" / "02_ner_finetuning.ipynb").read_text()
    assert "git+https://github.com/someone/my-course" in synced  # the .ipynb side follows its .py


def test_a_wrong_address_is_refused_with_the_place_to_fix_it(tmp_path: Path) -> None:
    root = fork(tmp_path, "git@github.com:someone/my-course.git")
    with pytest.raises(BmcourseError, match=r"pyproject.toml.*\[project.urls\] Repository"):
        links.stale(root)


def test_runtime_line_says_where_it_runs_and_what_to_do() -> None:
    assert describe_runtime("Colab", "Tesla T4", "cuda") == "runtime: Colab | GPU: Tesla T4 | using cuda"
    assert "Change runtime type" in describe_runtime("Colab", None, "cpu")
    assert "runs on the CPU" in describe_runtime("local", None, "cpu")
    assert "BMCOURSE_DEVICE" in describe_runtime("local", "NVIDIA H200", "cpu")
