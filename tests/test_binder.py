"""Binder: environment.yml agrees with constraints.txt, the prefetch skips with one message offline and
fails loudly online, and (opt-in, BMCOURSE_BINDER_TEST=1: minutes) environment.yml's pip section
installs into a fresh venv where postBuild then runs offline."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bmcourse import hub
from bmcourse.course import binder
from bmcourse.errors import BmcourseError

ROOT = Path(__file__).resolve().parent.parent
SKIP_LINE = "postBuild: the Hugging Face Hub is not reachable"
OPT_IN = "BMCOURSE_BINDER_TEST"
# What postBuild needs from the repository (a copy, so `pip install -e .` leaves this checkout alone).
REPO_PARTS = ("pyproject.toml", "README.md", "postBuild", "environment.yml", "constraints.txt", "bmcourse")


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused: an unreachable Hub)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_environment_yml_agrees_with_constraints() -> None:
    problems = binder.environment_problems(ROOT)
    assert not problems, "environment.yml disagrees with constraints.txt:\n" + "\n".join(problems)


def test_environment_yml_is_what_the_generator_writes() -> None:
    written = (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert written == binder.environment_text(ROOT), f"environment.yml is stale: run `{binder.REGENERATE}`"


def test_pip_section_leaves_out_what_binder_does_not_need() -> None:
    lines = binder.environment_pip_lines(ROOT / "environment.yml")
    assert not {"pytest", "ruff", "nbval", "playwright"} & {line.split("==")[0] for line in lines}


def test_pip_section_has_cpu_torch_index_and_the_declared_requirements() -> None:
    lines = binder.environment_pip_lines(ROOT / "environment.yml")
    assert "--extra-index-url=https://download.pytorch.org/whl/cpu" in lines
    names = {line.split("==")[0].lower().replace("_", "-") for line in lines if "==" in line}
    for text in binder.declared_requirements(ROOT / "pyproject.toml"):
        from packaging.requirements import Requirement

        assert Requirement(text).name.lower().replace("_", "-") in names, text


def test_a_changed_pin_is_reported_with_file_line_and_fix(tmp_path: Path) -> None:
    for part in ("constraints.txt", "pyproject.toml", "environment.yml"):
        shutil.copy(ROOT / part, tmp_path / part)
    text = (tmp_path / "constraints.txt").read_text(encoding="utf-8")
    (tmp_path / "constraints.txt").write_text(text.replace("numpy==", "numpy==9.9.9\n#"), encoding="utf-8")
    problems = binder.environment_problems(tmp_path)
    assert len(problems) == 1 and "numpy==" in problems[0] and "constraints.txt:" in problems[0]
    assert "environment.yml:" in problems[0] and binder.REGENERATE in problems[0]
    assert binder.main(["--check-environment", "--root", str(tmp_path)]) == 1
    with pytest.raises(BmcourseError, match=r"constraints.txt:\d+: numpy 2.4.6 is installed, .* pins 9.9.9"):
        binder.write_environment(tmp_path)  # regenerating needs the pinned set installed (its metadata)


def test_regenerating_from_an_unchanged_constraints_file_round_trips(tmp_path: Path) -> None:
    for part in ("constraints.txt", "pyproject.toml"):
        shutil.copy(ROOT / part, tmp_path / part)
    binder.write_environment(tmp_path)
    assert binder.environment_problems(tmp_path) == []
    assert binder.main(["--check-environment", "--root", str(tmp_path)]) == 0


def test_a_pin_outside_pyprojects_bound_is_refused(tmp_path: Path) -> None:
    for part in ("constraints.txt", "pyproject.toml"):
        shutil.copy(ROOT / part, tmp_path / part)
    text = (tmp_path / "constraints.txt").read_text(encoding="utf-8")
    (tmp_path / "constraints.txt").write_text(text.replace("\ntorch==2.13.0", "\ntorch==2.0.0"), encoding="utf-8")
    with pytest.raises(BmcourseError, match=r"constraints.txt:\d+: torch==2.0.0 breaks .*torch>=2.2"):
        binder.environment_text(tmp_path)


def test_postbuild_starts_with_set_e_installs_without_deps_then_prefetches() -> None:
    lines = [line for line in (ROOT / "postBuild").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0].startswith("set -e")
    assert any("pip install" in line and "--no-deps" in line and "-e ." in line for line in lines)
    assert lines[-1] == "python -m bmcourse.course.binder --prefetch"


def test_prefetch_list_covers_every_dataset_the_notebooks_load() -> None:
    import re

    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "notebooks").glob("*.py"))
    used = set(re.findall(r"load_(?:ner|classification)\(\"(\w+)\"", sources))
    used |= set(re.findall(r"^TARGET = \"(\w+)\"", sources, flags=re.M))
    assert used and used <= set(binder.hub_datasets())


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "BMCOURSE_OFFLINE", "unreachable"])
def test_prefetch_offline_prints_one_line_and_skips(how: str, env: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    env.delenv("BMCOURSE_OFFLINE", raising=False)
    if how == "unreachable":
        env.setenv("HF_ENDPOINT", closed_port_url())
    else:
        env.setenv(how, "1")
    hub.hub_reachable.cache_clear()
    env.setattr(binder, "fetch_model", lambda name: pytest.fail("fetched a model offline"))
    assert binder.main(["--prefetch"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(SKIP_LINE), out


def test_prefetch_online_fetches_model_and_datasets(env: pytest.MonkeyPatch) -> None:
    env.setattr(binder, "skip_reason", lambda: None)
    fetched: list[str] = []
    env.setattr(binder, "fetch_model", fetched.append)
    env.setattr(binder, "fetch_dataset", fetched.append)
    assert binder.prefetch() is True
    assert fetched[0] == "bert-base-cased" and set(fetched[1:]) == set(binder.hub_datasets())
    assert {"conll2003", "crossner_politics", "sst2", "banking77", "financial_phrasebank"} <= set(fetched)


def test_model_prefetch_asks_for_safetensors_and_tokenizer_only(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub

    from bmcourse import models

    asked: dict[str, object] = {}

    def fake_snapshot(repo_id: str, allow_patterns: list[str]) -> str:
        asked.update(repo=repo_id, patterns=allow_patterns)
        (tmp_path / "model.safetensors").write_bytes(b"x")
        return str(tmp_path)

    env.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    env.setattr(models, "load_encoder", lambda name: None)
    binder.fetch_model("bert-base-cased")
    patterns = asked["patterns"]
    assert asked["repo"] == "bert-base-cased" and "*.safetensors" in patterns and "vocab.txt" in patterns
    assert not any(p.endswith((".bin", ".pt", ".pth", ".pkl", ".h5", ".msgpack")) or p == "*" for p in patterns)


def test_online_errors_fail_loudly(env: pytest.MonkeyPatch) -> None:
    env.setattr(binder, "skip_reason", lambda: None)
    env.setattr(binder, "fetch_model", lambda name: None)

    def bad_repo(name: str) -> None:
        raise BmcourseError(f"could not load {name!r} from the Hub (RepositoryNotFoundError)", fix="check the id")

    env.setattr(binder, "fetch_dataset", bad_repo)
    assert binder.main(["--prefetch"]) == 1


# --- opt-in: the whole Binder environment in a fresh venv (minutes; .ci/run runs it in its own step) ---

def _opted_in() -> bool:
    return os.environ.get(OPT_IN, "").strip() == "1"


def _run(command: list[str], seconds: dict[str, float], label: str, **kwargs: object
         ) -> subprocess.CompletedProcess[str]:
    """Run ``command``, time it into ``seconds[label]``, and fail with its output when it fails."""
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    seconds[label] = time.monotonic() - start
    assert done.returncode == 0, f"{label} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _copy_repo(repo: Path) -> Path:
    """Copy what postBuild needs into ``repo`` (so `pip install -e .` there leaves this checkout alone)."""
    repo.mkdir()
    for part in REPO_PARTS:
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / part, repo / part)
    return repo


def _postbuild_env(venv: Path, home: Path, **extra: str) -> dict[str, str]:
    """A Binder-like environment: the venv's bin first on PATH, caches under ``home``, no offline switch."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"HF_HUB_OFFLINE", "BMCOURSE_OFFLINE", "HF_ENDPOINT", "PYTHONPATH", "BMCOURSE_DATA_DIR",
                        "BMCOURSE_PROFILE", "PYTHONHOME", "BMCOURSE_MODEL"}}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               BMCOURSE_CACHE_DIR=str(home / "bmcourse"), HF_HOME=str(home / "hf"), **extra)
    return env


@pytest.mark.skipif(not _opted_in(), reason=f"installs a whole environment (minutes): set {OPT_IN}=1 "
                    "(.ci/run does, in its own step)")
def test_binder_environment_installs_and_postbuild_runs_offline(tmp_path: Path) -> None:
    seconds: dict[str, float] = {}
    repo = _copy_repo(tmp_path / "repo")
    requirements = tmp_path / "binder-requirements.txt"  # what conda writes from the pip section
    requirements.write_text("\n".join(binder.environment_pip_lines(ROOT / "environment.yml")) + "\n",
                            encoding="utf-8")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], seconds, "python -m venv")
    python = venv / "bin" / "python"
    # --retries 1: where PyTorch's CPU index is out of reach (CI, this sandbox) pip's default 5 retries
    # cost ~8 s per package (~20 min in all); torch then comes from a local wheel folder (find-links).
    _run([str(python), "-m", "pip", "install", "--quiet", "--retries", "1", "-r", str(requirements),
          "-c", str(ROOT / "constraints.txt")], seconds, "pip install (environment.yml's pip section)")
    for label, extra in (("postBuild (HF_HUB_OFFLINE=1)", {"HF_HUB_OFFLINE": "1"}),
                         ("postBuild (Hub unreachable)", {"HF_ENDPOINT": closed_port_url()})):
        done = _run(["bash", "postBuild"], seconds, label, cwd=repo, env=_postbuild_env(venv, tmp_path, **extra))
        skips = [line for line in done.stdout.splitlines() if line.startswith(SKIP_LINE)]
        assert len(skips) == 1, f"{label}: expected one skip line, got:\n{done.stdout}"
        assert not (tmp_path / "hf" / "hub").exists(), f"{label}: something was downloaded"
    check = ("import bmcourse, torch, transformers, datasets, jupyterlab; "
             "print(bmcourse.__file__); print(torch.__version__); print(torch.version.cuda)")
    done = _run([str(python), "-c", check], seconds, "import check", cwd=tmp_path,
                env=_postbuild_env(venv, tmp_path, HF_HUB_OFFLINE="1"))
    where, version, cuda = done.stdout.split()[-3:]
    assert Path(where).resolve().is_relative_to(repo.resolve()), f"bmcourse imported from {where}, not the copy"
    assert cuda == "None" and "+cu" not in version, f"torch {version} is a CUDA build (cuda {cuda})"
    print("\n" + "\n".join(f"test_binder: {label}: {s:.0f} s" for label, s in seconds.items()))
