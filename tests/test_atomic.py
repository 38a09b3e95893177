"""Nothing half-written: result JSON is written whole or not at all; the commit comes from this checkout only."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bmcourse import reference
from bmcourse.course import commands
from bmcourse.course.cli import main

ROOT = Path(__file__).resolve().parent.parent
OLD = {"old": "result", "rows": [1, 2, 3]}


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    """A result file from an earlier run."""
    return reference.write_json(OLD, tmp_path / "results" / "bench.json")


def left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_json_writes_indented_json_with_the_usual_permissions(tmp_path: Path) -> None:
    payload = {"f1": 0.5, "name": "Zoë", "nested": {"a": [1, 2]}}
    path = reference.write_json(payload, tmp_path / "new" / "folder" / "out.json")
    assert path.read_text(encoding="utf-8") == json.dumps(payload, indent=2) + "\n"  # as before, ASCII-escaped
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not the 0600 of a temporary file
    reference.write_json(payload, path, ensure_ascii=False)
    assert '"Zoë"' in path.read_text(encoding="utf-8") and left_in(path.parent) == ["out.json"]


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary_file(old_file: Path) -> None:
    class Unwritable:
        pass

    payload = {"first": "x" * 100_000, "then": Unwritable()}  # json.dump has written 100 kB when it fails
    with pytest.raises(TypeError, match="not JSON serializable"):
        reference.write_json(payload, old_file)
    assert json.loads(old_file.read_text(encoding="utf-8")) == OLD
    assert left_in(old_file.parent) == ["bench.json"]


@pytest.mark.parametrize("where", ["dump", "fsync", "replace"])
def test_ctrl_c_during_a_write_leaves_the_old_file_and_no_temporary_file(monkeypatch, old_file: Path,
                                                                         where: str) -> None:
    seen: list[str] = []

    def interrupt(*args, **kwargs):
        seen.append(where)
        if where == "dump":  # half the new JSON is in the temporary file by now
            args[1].write('{"new": "half')
        raise KeyboardInterrupt

    target = {"dump": (json, "dump"), "fsync": (os, "fsync"), "replace": (os, "replace")}[where]
    monkeypatch.setattr(*target, interrupt)
    with pytest.raises(KeyboardInterrupt):
        reference.write_json({"new": "result"}, old_file)
    assert seen == [where]
    assert json.loads(old_file.read_text(encoding="utf-8")) == OLD
    assert left_in(old_file.parent) == ["bench.json"]


def test_a_rewrite_keeps_the_files_permissions(old_file: Path) -> None:
    old_file.chmod(0o640)
    reference.write_json({"new": 1}, old_file)
    assert stat.S_IMODE(old_file.stat().st_mode) == 0o640 and json.loads(old_file.read_text()) == {"new": 1}


def test_atomic_open_writes_bytes_and_refuses_appending(tmp_path: Path) -> None:
    with reference.atomic_open(tmp_path / "figure.png", "wb") as handle:
        handle.write(b"\x89PNG")
    assert (tmp_path / "figure.png").read_bytes() == b"\x89PNG"
    with pytest.raises(ValueError, match="whole files"), reference.atomic_open(tmp_path / "x", "a"):
        pass


# --- the commands write through it -------------------------------------------------------------

def real_conll(env, tmp_path: Path) -> None:
    folder = tmp_path / "data" / "conll2003"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text('{"tokens": ["Ada"], "ner_tags": ["B-PER"]}\n', encoding="utf-8")
    env.setenv("BMCOURSE_DATA_DIR", str(tmp_path / "data"))


def test_bench_json_is_replaced_whole_after_each_target_and_at_the_end(env, tmp_path: Path, old_file: Path,
                                                                       capsys) -> None:
    import bmcourse.bench

    real_conll(env, tmp_path)
    (tmp_path / "data" / "wnut17").mkdir()
    (tmp_path / "data" / "wnut17" / "train.jsonl").write_text('{"tokens": ["a"], "ner_tags": ["O"]}\n')
    replaced: list[str] = []
    real_replace = os.replace

    def replace(source, destination):
        replaced.append(Path(destination).name)
        assert Path(source).parent == Path(destination).parent  # a temporary file in the same folder
        real_replace(source, destination)

    def fake(**kwargs):
        kwargs["on_target"]({"partial": True})
        assert json.loads(old_file.read_text()) == {"partial": True}
        return {"total_seconds": 1.0}

    env.setattr(os, "replace", replace)
    env.setattr(bmcourse.bench, "bench_transfer", fake)
    assert main(["bench", "transfer", "--targets", "wnut17", "--out", str(old_file)]) == 0
    assert replaced == ["bench.json", "bench.json"]
    assert json.loads(old_file.read_text()) == {"total_seconds": 1.0} and left_in(old_file.parent) == ["bench.json"]


def test_an_interrupted_reference_refresh_leaves_the_shipped_files_whole(env, tmp_path: Path, capsys) -> None:
    real_conll(env, tmp_path)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "ner_reference.json").write_text('{"old": true}\n')
    (shipped / "ner_reference.png").write_bytes(b"old png")
    env.setattr(reference, "shipped_dir", lambda: shipped)

    def run(args) -> int:  # the notebook writes its results into BMCOURSE_RESULTS_DIR
        results = Path(os.environ["BMCOURSE_RESULTS_DIR"])
        (results / "ner_reference.json").write_text('{"new": true}\n')
        (results / "ner_reference.png").write_bytes(b"new png")
        return 0

    env.setattr(commands, "cmd_run", run)
    real_fsync = os.fsync
    calls: list[int] = []

    def fsync_then_ctrl_c(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real_fsync(fd)

    env.setattr(os, "fsync", fsync_then_ctrl_c)
    results_dir = os.environ.get("BMCOURSE_RESULTS_DIR")
    assert main(["reference", "refresh", "ner"]) == 130
    assert (shipped / "ner_reference.json").read_text() == '{"old": true}\n'
    assert left_in(shipped) == ["ner_reference.json", "ner_reference.png"]
    assert os.environ.get("BMCOURSE_RESULTS_DIR") == results_dir  # not left pointing at the deleted run folder
    capsys.readouterr()
    assert main(["reference", "refresh", "ner"]) == 0  # and once it runs through, both are new
    assert (shipped / "ner_reference.json").read_text() == '{"new": true}\n'
    assert (shipped / "ner_reference.png").read_bytes() == b"new png"
    assert left_in(shipped) == ["ner_reference.json", "ner_reference.png"]


# --- the commit: from this checkout's root, or nothing ----------------------------------------

def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the package's git checkout")
def test_the_commit_comes_from_this_checkout_whatever_the_working_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # another folder: git must still run in the checkout's root
    assert reference.checkout_root() == ROOT
    commit = reference.git_commit()
    assert re.fullmatch(r"[0-9a-f]{7,}(\+dirty)?", commit)
    assert commit.split("+")[0] == git(ROOT, "rev-parse", "--short", "HEAD")


def test_no_commit_outside_a_checkout(tmp_path: Path) -> None:
    package = tmp_path / "copy" / "bmcourse"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    assert reference.checkout_root(package) is None  # a copy (e.g. site-packages): no .git above it


def test_no_commit_from_another_repository_around_the_package(tmp_path: Path) -> None:
    project = tmp_path / "project"  # e.g. a learner's repository with a virtual environment inside it
    package = project / "venv" / "site-packages" / "bmcourse"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "learner's project")
    assert reference.checkout_root(package) is None  # the repository's top is not the package's parent
    beside = project / "bmcourse"  # at the top, but not tracked by that repository
    beside.mkdir()
    (beside / "__init__.py").write_text("")
    assert reference.checkout_root(beside) is None
    git(project, "add", "bmcourse/__init__.py")
    assert reference.checkout_root(beside) == project.resolve()  # tracked at the top: a checkout of it


def test_no_commit_is_recorded_as_none(monkeypatch) -> None:
    monkeypatch.setattr(reference, "checkout_root", lambda package_dir=None: None)
    assert reference.git_commit() is None
    block = reference.provenance(model={"name": "m", "cased": True, "source": "local folder"},
                                 data_source="conll2003", command="bmcourse bench ner")
    assert block["commit"] is None
    assert reference.label(block).endswith("commit not recorded")


def test_an_installed_copy_inside_another_repository_records_no_commit(tmp_path: Path) -> None:
    """The whole package copied into another repository's site-packages, imported in a fresh process."""
    project = tmp_path / "project"
    site = project / "venv" / "site-packages"
    site.mkdir(parents=True)
    shutil.copytree(ROOT / "bmcourse", site / "bmcourse", ignore=shutil.ignore_patterns("__pycache__"))
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "a project that vendors bmcourse")
    code = ("import json, bmcourse, bmcourse.reference as r; "
            "print(json.dumps([bmcourse.__file__, r.git_commit()]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(site)}, check=True)
    where, commit = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(where).is_relative_to(site) and commit is None
