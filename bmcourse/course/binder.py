"""Binder (repo2docker) support: environment.yml's pip section generated from constraints.txt, and the
postBuild prefetch of the Hub model and datasets the course uses.

    python -m bmcourse.course.binder --write-environment   # rewrite environment.yml from constraints.txt
    python -m bmcourse.course.binder --check-environment   # exit 1 when environment.yml disagrees with it
    python -m bmcourse.course.binder --prefetch            # postBuild: cache bert-base-cased and the datasets

repo2docker builds environment.yml before it copies the repository in, so the pip section cannot
say ``-c constraints.txt`` or ``-e .``: it lists constraints.txt's pins itself (for the package's
dependencies and its ``notebooks`` extra, transitively), with PyTorch's CPU wheel index for torch,
and postBuild installs the package.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from bmcourse.errors import BmcourseError

from .pyproject import read_pyproject

ROOT = Path(__file__).resolve().parents[2]  # the repository: bmcourse/course/binder.py's grandparent
ENVIRONMENT = "environment.yml"
CONSTRAINTS = "constraints.txt"
PYTHON = "3.11"  # the interpreter constraints.txt was frozen with (cp311 wheels)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PIP_OPTIONS = (f"--extra-index-url={CPU_INDEX}",)  # torch==X: pip takes X+cpu from here on Linux
EXTRAS = ("notebooks",)  # the pyproject extras Binder needs on top of the dependencies
REGENERATE = "python -m bmcourse.course.binder --write-environment"
# The online default model's files: tokenizer, config and safetensors weights; never a pickle .bin.
MODEL_FILES = ("config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt")
SAY = "postBuild:"

HEADER = f"""\
# Binder (repo2docker). GENERATED from constraints.txt by `{REGENERATE}`:
# edit constraints.txt (the one tested set: course.sh and CI install with it), then rerun that
# command; tests/test_binder.py fails while the two disagree.
# repo2docker builds this file before it copies the repository in, so the pip section cannot say
# `-c constraints.txt` or `-e .`: it lists constraints.txt's pins for the package's dependencies and
# its `notebooks` extra, with everything they need in turn (for Linux, Python {PYTHON}), and torch comes
# from PyTorch's CPU wheel index (no multi-GB CUDA download). postBuild then installs the package
# itself (--no-deps) and prefetches bert-base-cased and the course's Hub datasets (skipped, with one
# message, when the Hub is out of reach).
"""


def read_pins(path: Path) -> dict[str, tuple[str, str, int]]:
    """``{canonical name: (name as written, version, line)}`` for each ``name==version`` line of ``path``."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, tuple[str, str, int]] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement as err:
            raise BmcourseError(f"not a requirement: {line!r} ({err})", file=path, line=number,
                                fix="write one `name==version` per line") from None
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise BmcourseError(f"{line!r} is not an exact pin", file=path, line=number,
                                fix="pin it as name==version (pip freeze writes that)")
        pins[canonicalize_name(req.name)] = (req.name, specs[0].version, number)
    return pins


def declared_requirements(pyproject: Path, extras: Sequence[str] = EXTRAS) -> list[str]:
    """pyproject.toml's ``[project] dependencies`` plus the given optional-dependency extras."""
    project = read_pyproject(pyproject)["project"]
    found = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in project.get("optional-dependencies", {}):
            raise BmcourseError(f"no extra {extra!r} in [project.optional-dependencies]", file=pyproject,
                                fix=f"add it, or drop it from bmcourse.course.binder.EXTRAS ({', '.join(EXTRAS)})")
        found += project["optional-dependencies"][extra]
    return found


def check_declared(pins: dict[str, tuple[str, str, int]], declared: Iterable[str], constraints: Path) -> None:
    """Raise when a declared requirement has no pin in constraints.txt or its pin breaks the bound."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    for text in declared:
        req = Requirement(text)
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            raise BmcourseError(f"{req.name} (pyproject.toml: {text!r}) has no pin", file=constraints,
                                fix="add `name==version` (refresh constraints.txt as its header says)")
        if not req.specifier.contains(pin[1], prereleases=True):
            raise BmcourseError(f"{pin[0]}=={pin[1]} breaks pyproject.toml's {text!r}", file=constraints,
                                line=pin[2], fix="pin a version inside the bound, or change the bound")


# Binder's platform: environment markers are evaluated for it, whatever machine generates the file.
BINDER_MARKERS = {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux",
                  "platform_machine": "x86_64", "implementation_name": "cpython",
                  "platform_python_implementation": "CPython", "python_version": PYTHON,
                  "python_full_version": f"{PYTHON}.0"}
FREEZE_SKIPS = {"pip", "setuptools", "wheel", "distribute"}  # pip freeze leaves them out; pip installs them
INSTALL_FIRST = ("install the tested set first: bash course.sh test "
                 "(or pip install -c constraints.txt -e '.[notebooks,test]')")


def _wanted(marker: object, extras: Iterable[str]) -> bool:
    """True when a requirement's ``marker`` holds on Binder for the base package or one of ``extras``."""
    if marker is None:
        return True
    return any(marker.evaluate({**BINDER_MARKERS, "extra": extra})  # type: ignore[attr-defined]
               for extra in ("", *extras))


def closure(roots: Iterable[str], pins: dict[str, tuple[str, str, int]], constraints: Path) -> list[str]:
    """The canonical names ``roots`` need on Binder, transitively, read from the installed packages' metadata."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    todo, done, names = [(Requirement(text), ()) for text in roots], set(), set()
    while todo:
        req, parent_extras = todo.pop()
        if not _wanted(req.marker, parent_extras):
            continue
        name = canonicalize_name(req.name)
        if name in FREEZE_SKIPS or (name, frozenset(req.extras)) in done:
            continue
        done.add((name, frozenset(req.extras)))
        names.add(name)
        if name not in pins:
            raise BmcourseError(f"{req.name} (needed on Binder) has no pin", file=constraints,
                                fix="add `name==version` (refresh constraints.txt as its header says)")
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise BmcourseError(f"{req.name} is not installed here, so what it needs is unknown",
                                fix=INSTALL_FIRST) from None
        if Version(dist.version).public != Version(pins[name][1]).public:
            raise BmcourseError(f"{req.name} {dist.version} is installed, {constraints.name} pins {pins[name][1]}",
                                file=constraints, line=pins[name][2], fix=INSTALL_FIRST)
        todo += [(Requirement(text), tuple(req.extras)) for text in dist.requires or []]
    return sorted(names)


def pip_section(root: Path = ROOT) -> list[str]:
    """The pip lines of environment.yml: the index options, then the pins the package and its extras need."""
    constraints = root / CONSTRAINTS
    pins = read_pins(constraints)
    declared = declared_requirements(root / "pyproject.toml")
    check_declared(pins, declared, constraints)
    needed = set(closure(declared, pins, constraints))
    return [*PIP_OPTIONS, *(f"{name}=={version}" for key, (name, version, _) in pins.items() if key in needed)]


def environment_text(root: Path = ROOT) -> str:
    """The whole environment.yml, generated from constraints.txt and pyproject.toml."""
    body = ["name: bmcourse", "channels:", "  - conda-forge", "dependencies:", f"  - python={PYTHON}",
            "  - pip", "  - pip:"]
    body += [f"    - {line}" for line in pip_section(root)]
    return HEADER + "\n".join(body) + "\n"


def write_environment(root: Path = ROOT) -> Path:
    """Rewrite ``root/environment.yml`` from constraints.txt; returns its path."""
    path = root / ENVIRONMENT
    path.write_text(environment_text(root), encoding="utf-8")
    return path


def environment_pip_lines(path: Path) -> list[str]:
    """The pip section of an environment.yml (options and requirements, as written)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for item in data.get("dependencies", []):
        if isinstance(item, dict) and "pip" in item:
            return [str(line) for line in item["pip"]]
    raise BmcourseError("no pip section under dependencies", file=path, fix=f"run `{REGENERATE}`")


def _line_of(path: Path, text: str) -> int | None:
    """The 1-based line of ``path`` holding ``text`` (None when absent)."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    return None


def environment_problems(root: Path = ROOT) -> list[str]:
    """Every way environment.yml disagrees with constraints.txt, one message each (file:line, fix)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    path, fix = root / ENVIRONMENT, f"fix: run `{REGENERATE}`"
    pins = read_pins(root / CONSTRAINTS)
    lines = environment_pip_lines(path)
    problems, seen = [], set()
    for line in lines:
        if line.startswith("-"):
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        seen.add(name)
        got = [s.version for s in req.specifier if s.operator == "=="]
        if name not in pins:
            problems.append(f"{path}:{_line_of(path, line)}: {line!r} is not in {CONSTRAINTS}; {fix}")
        elif got != [pins[name][1]]:
            problems.append(f"{path}:{_line_of(path, line)}: {line!r} but {CONSTRAINTS}:{pins[name][2]} pins "
                            f"{pins[name][0]}=={pins[name][1]}; {fix}")
    for text in declared_requirements(root / "pyproject.toml"):
        if canonicalize_name(Requirement(text).name) not in seen:
            problems.append(f"{path}: no pin for pyproject.toml's {text!r}; {fix}")
    for option in PIP_OPTIONS:
        if option not in lines:
            problems.append(f"{path}: the pip section lacks {option!r} (CPU-only torch); {fix}")
    return problems


def skip_reason() -> str | None:
    """Why the Hub cannot be used now (offline switch or no answer), or None when it answers."""
    from bmcourse.config import is_offline
    from bmcourse.hub import endpoint, hub_reachable

    if is_offline():
        return "HF_HUB_OFFLINE or BMCOURSE_OFFLINE is set"
    if not hub_reachable():
        return f"{endpoint()} did not answer"
    return None


def fetch_model(name: str) -> Path:
    """Download ``name``'s tokenizer, config and safetensors weights (never pickle), then load it once."""
    from huggingface_hub import snapshot_download

    from bmcourse.models import load_encoder

    folder = Path(snapshot_download(name, allow_patterns=list(MODEL_FILES)))
    if not any(folder.glob("*.safetensors")):
        raise BmcourseError(f"model {name!r} has no .safetensors weights on the Hub (pickle is refused)",
                            fix="choose a model with model.safetensors, e.g. bert-base-cased")
    load_encoder(name)  # the package's own loader: the files it needs are in the cache it reads
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6
    print(f"{SAY} {name}: tokenizer, config and safetensors weights cached ({size:.0f} MB, {folder})")
    return folder


def fetch_dataset(name: str) -> None:
    """Load registry dataset ``name`` from the Hub with the package's loader, filling its cache."""
    from bmcourse.data import REGISTRY, load_classification, load_ner

    info = REGISTRY[name]
    if info.hub is None:
        raise BmcourseError(f"{name!r} has no Hub repository in the registry",
                            fix="drop it from the prefetch list (bmcourse.course.binder.hub_datasets)")
    loader = load_ner if info.kind == "ner" else load_classification
    data = loader(name, source="hub")
    rows = {split: part.num_rows for split, part in data.items()}
    print(f"{SAY} {name}: cached from {info.hub.repo} {rows}")


def hub_datasets() -> list[str]:
    """Every registry dataset with a Hub repository (the notebooks' and the benches' datasets)."""
    from bmcourse.data.registry import REGISTRY

    return [name for name, info in REGISTRY.items() if info.hub is not None]


def prefetch(datasets: Sequence[str] | None = None, model: str | None = None) -> bool:
    """Cache the online default model and the Hub datasets; False (one message) when the Hub is out of reach."""
    reason = skip_reason()
    if reason is not None:
        print(f"{SAY} the Hugging Face Hub is not reachable ({reason}); skipping the prefetch — the "
              "notebooks will use the packaged offline model (all-MiniLM-L6-v2) and the embedded sample "
              "datasets until the Hub is reachable", flush=True)
        return False
    from bmcourse.hub import hub_cache_dir
    from bmcourse.models import ONLINE_DEFAULT

    fetch_model(model or ONLINE_DEFAULT)
    for name in hub_datasets() if datasets is None else datasets:
        fetch_dataset(name)
    print(f"{SAY} prefetch done (datasets in {hub_cache_dir()})")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--write-environment``, ``--check-environment`` or ``--prefetch``."""
    parser = argparse.ArgumentParser(prog="python -m bmcourse.course.binder", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write-environment", action="store_true", help="rewrite environment.yml")
    action.add_argument("--check-environment", action="store_true", help="exit 1 if it is stale")
    action.add_argument("--prefetch", action="store_true", help="cache the Hub model and datasets")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        if args.write_environment:
            print(f"wrote {write_environment(args.root)}")
        elif args.check_environment:
            problems = environment_problems(args.root)
            print("\n".join(problems) or f"{args.root / ENVIRONMENT} agrees with {CONSTRAINTS}")
            return 1 if problems else 0
        else:
            prefetch()
    except BmcourseError as err:
        print(f"{SAY if args.prefetch else 'bmcourse.course.binder:'} error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
