"""Honest packaging: every third-party distribution the package and the notebooks import is declared in
pyproject.toml, and the Python version that pyproject.toml, the README, docs/ and environment.yml state
is one version, the one the pinned set (constraints.txt) really needs."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from bmcourse.course import binder

ROOT = Path(__file__).resolve().parent.parent

# Packages whose modules' imports may come from these pyproject extras as well as from [project]
# dependencies: the maintainer side (bmcourse.course: the notebook commands, nbtools, links, Binder's
# environment.yml and postBuild), which the course code never imports. Everything else (the modules a
# notebook or a learner's `bmcourse redact` / `bench` use) must need only the dependencies, which is all
# that Colab's `%pip install bmcourse @ git+...` line installs.
EXTRAS_FOR: dict[str, tuple[str, ...]] = {
    # executes, syncs and compares notebooks (nbclient, nbformat, jupytext); Binder's environment.yml
    # (pyyaml, packaging) and postBuild, which installs the `notebooks` extra
    "bmcourse.course": ("notebooks",),
    # the instructor's grading: nbgrader's gradebook, autograder and feedback
    "bmcourse.course.grading": ("grading",),
    # the course website (bmcourse site): Sphinx, MyST-NB, furo, docutils for its mermaid directive, jieba
    "bmcourse.course.site": ("site",),
    "bmcourse.course.site_mermaid": ("site",),
}
# Imports in an `except ImportError` handler: a fallback the module needs only when the first import
# fails. Each one is listed here with its reason, so a new one is a decision, not an accident.
KNOWN_FALLBACKS: dict[str, set[str]] = {}
# Imports a learner installs on demand, never part of the tested set: the importing module turns their
# absence into a BmcourseError that says `pip install ...`. Each one is a decision, with its reason.
ON_DEMAND: dict[str, dict[str, str]] = {
    "bmcourse.models": {"modelscope": "only with BMCOURSE_MODEL_SOURCE=modelscope (mainland China); its "
                                      "absence is an error naming `pip install modelscope`"},
}
# Declared dependencies that no module or notebook imports by name, and why they are needed.
NEEDED_INDIRECTLY = {
    "onnxscript": "torch.onnx.export (the torch.export-based exporter in bmcourse.deploy) imports it",
}
# The learner-facing statements of the minimum Python version ("Python 3.11+").
VERSION_TEXTS = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))


def _handles_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names)


def imported_modules(source: str) -> tuple[set[str], set[str]]:
    """The top-level names of every absolute import in ``source``, at module level or inside functions,
    as ``(imports, fallbacks)``: ``fallbacks`` are those inside an ``except ImportError`` handler."""
    tree = ast.parse(source)
    fallback_nodes = {id(node) for handler in ast.walk(tree)
                      if isinstance(handler, ast.ExceptHandler) and _handles_import_error(handler)
                      for statement in handler.body for node in ast.walk(statement)}
    imports: set[str] = set()
    fallbacks: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue  # not an import, or a relative one (the package itself)
        (fallbacks if id(node) in fallback_nodes else imports).update(name.split(".")[0] for name in names)
    return imports, fallbacks


def module_name(path: Path, root: Path) -> str:
    """``bmcourse/data/__init__.py`` -> ``bmcourse.data``; ``bmcourse/course/cli.py`` -> ``bmcourse.course.cli``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def third_party(names: Iterable[str], first_party: str = "bmcourse") -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n != first_party and n != "__future__"}


def declared(pyproject: Path) -> tuple[set[str], dict[str, set[str]]]:
    """The canonical names of ``[project] dependencies`` and of each optional-dependency extra."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]

    def names(requirements: Iterable[str]) -> set[str]:
        return {canonicalize_name(Requirement(text).name) for text in requirements}

    return names(project["dependencies"]), {extra: names(reqs) for extra, reqs in
                                            project.get("optional-dependencies", {}).items()}


def extras_of(module: str, extras_for: Mapping[str, tuple[str, ...]] = EXTRAS_FOR) -> tuple[str, ...]:
    """The extras ``module`` may import from: those of the module itself or of a package holding it."""
    parts = module.split(".")
    return tuple(extra for depth in range(1, len(parts) + 1) for extra in extras_for.get(".".join(parts[:depth]), ()))


def undeclared(imports: Mapping[str, set[str]], dependencies: set[str], extras: Mapping[str, set[str]],
               extras_for: Mapping[str, tuple[str, ...]] = EXTRAS_FOR,
               providers: Mapping[str, list[str]] | None = None) -> list[str]:
    """One message per imported module no declared distribution provides (for that importing module).

    ``imports`` maps an importing module (or notebook) to the top-level names it imports.
    """
    providers = metadata.packages_distributions() if providers is None else providers
    problems = []
    for where, names in sorted(imports.items()):
        allowed = dependencies.union(*(extras.get(extra, set()) for extra in extras_of(where, extras_for)))
        for name in sorted(third_party(names)):
            dists = {canonicalize_name(d) for d in providers.get(name, [])}
            if not dists:
                problems.append(f"{where} imports {name!r}, which no installed distribution provides")
            elif not dists & allowed:
                home = "[project] dependencies" + "".join(f" or the {e!r} extra" for e in extras_of(where, extras_for))
                problems.append(f"{where} imports {name!r} (distribution {', '.join(sorted(dists))}), "
                                f"which pyproject.toml does not declare in {home}")
    return problems


def package_imports(root: Path, package: str = "bmcourse") -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``({module: imports}, {module: fallback imports})`` for every module of ``root/package``."""
    imports, fallbacks = {}, {}
    for path in sorted((root / package).rglob("*.py")):
        name = module_name(path, root)
        imports[name], found = imported_modules(path.read_text(encoding="utf-8"))
        if third_party(found):
            fallbacks[name] = third_party(found)
    return imports, fallbacks


def notebook_imports(root: Path) -> dict[str, set[str]]:
    """``{notebook source: imports}`` for the jupytext sources (magics are comments there)."""
    return {f"notebooks/{p.name}": imported_modules(p.read_text(encoding="utf-8"))[0]
            for p in sorted((root / "notebooks").glob("[0-9]*.py"))}


# --- the package and the notebooks against pyproject.toml -------------------------------------------

def test_every_import_of_the_package_and_the_notebooks_is_declared() -> None:
    dependencies, extras = declared(ROOT / "pyproject.toml")
    imports, _ = package_imports(ROOT)
    assert len(imports) > 20 and "bmcourse.data.hub" in imports  # the scan found the package
    notebooks = notebook_imports(ROOT)
    assert len(notebooks) == 6
    imports = {module: names - set(ON_DEMAND.get(module, {})) for module, names in imports.items()}
    problems = undeclared({**imports, **notebooks}, dependencies, extras)
    assert not problems, "undeclared imports (add them to pyproject.toml):\n" + "\n".join(problems)


def test_the_tooling_allowance_names_real_modules_and_extras() -> None:
    _, extras = declared(ROOT / "pyproject.toml")
    imports, _ = package_imports(ROOT)
    for module, allowed in EXTRAS_FOR.items():
        assert module in imports, f"EXTRAS_FOR names {module}, which is not a module or package of the package"
        assert set(allowed) <= set(extras), f"{module}: no extra {allowed} in pyproject.toml"


def test_fallback_imports_are_the_known_ones() -> None:
    _, fallbacks = package_imports(ROOT)
    assert fallbacks == KNOWN_FALLBACKS


def test_every_dependency_is_used_by_name_or_says_why() -> None:
    dependencies, _ = declared(ROOT / "pyproject.toml")
    imports, _ = package_imports(ROOT)
    providers = metadata.packages_distributions()
    used = {canonicalize_name(d) for names in [*imports.values(), *notebook_imports(ROOT).values()]
            for name in names for d in providers.get(name, [])}
    unused = dependencies - used - set(NEEDED_INDIRECTLY)
    assert not unused, f"declared but never imported (drop them, or say why in NEEDED_INDIRECTLY): {sorted(unused)}"
    assert not set(NEEDED_INDIRECTLY) & used, "NEEDED_INDIRECTLY lists a dependency that is imported by name"


def test_every_declared_distribution_has_a_pin_inside_its_bound() -> None:
    pins = binder.read_pins(ROOT / "constraints.txt")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    texts = [*project["dependencies"], *(t for reqs in project["optional-dependencies"].values() for t in reqs)]
    binder.check_declared(pins, texts, ROOT / "constraints.txt")  # raises naming the requirement and the fix


# --- the check itself, on a synthetic package ---------------------------------------------------------

def _synthetic(tmp_path: Path, modules: Mapping[str, str], dependencies: list[str]) -> Path:
    for relative, text in modules.items():
        path = tmp_path / "bmcourse" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    quoted = ", ".join(f'"{d}"' for d in dependencies)
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "x"\ndependencies = [{quoted}]\n\n[project.optional-dependencies]\n'
        'notebooks = ["nbformat>=5"]\n', encoding="utf-8")
    return tmp_path


def _problems(root: Path, extras_for: Mapping[str, tuple[str, ...]] | None = None) -> list[str]:
    dependencies, extras = declared(root / "pyproject.toml")
    imports, _ = package_imports(root)
    return undeclared(imports, dependencies, extras, extras_for=EXTRAS_FOR if extras_for is None else extras_for)


def test_an_undeclared_import_inside_a_function_fails_naming_module_and_distribution(tmp_path: Path) -> None:
    root = _synthetic(tmp_path, {
        "__init__.py": "from __future__ import annotations\nimport json\nfrom . import core\n",
        "core.py": "import numpy as np\n\ndef load():\n    from yaml import safe_load\n    return safe_load\n",
    }, dependencies=["numpy>=1"])
    problems = _problems(root)
    assert len(problems) == 1, problems
    assert "bmcourse.core imports 'yaml'" in problems[0] and "pyyaml" in problems[0]
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text().replace(
        '"numpy>=1"', '"numpy>=1", "PyYAML>=6"'), encoding="utf-8")
    assert _problems(root) == []


def test_an_extra_counts_only_for_the_tooling_modules(tmp_path: Path) -> None:
    root = _synthetic(tmp_path, {"__init__.py": "", "nbtools.py": "import nbformat\n",
                                 "apps.py": "def f():\n    import nbformat.v4\n"}, dependencies=[])
    problems = _problems(root, extras_for={"bmcourse.nbtools": ("notebooks",)})
    assert len(problems) == 1 and problems[0].startswith("bmcourse.apps imports 'nbformat'"), problems


def test_a_module_no_distribution_provides_is_reported(tmp_path: Path) -> None:
    root = _synthetic(tmp_path, {"__init__.py": "import surely_not_installed_anywhere\n"}, dependencies=[])
    assert _problems(root) == ["bmcourse imports 'surely_not_installed_anywhere', which no installed "
                               "distribution provides"]


def test_fallbacks_are_separated_and_relative_imports_ignored() -> None:
    source = ("try:\n    import tomllib\nexcept ImportError:\n    import tomli as tomllib\n"
              "try:\n    import fast_json\nexcept (ModuleNotFoundError, AttributeError):\n    fast_json = None\n"
              "from .data import load_ner\nfrom ..x import y\n")
    assert imported_modules(source) == ({"tomllib", "fast_json"}, {"tomli"})


# --- one Python version, stated everywhere ------------------------------------------------------------

def _minimum(specifier: str) -> Version:
    specs = list(SpecifierSet(specifier))
    assert len(specs) == 1 and specs[0].operator == ">=", f"requires-python should be one '>=X.Y', not {specifier!r}"
    return Version(specs[0].version)


def _strictest_pinned_python(pins: Iterable[str]) -> tuple[Version, str]:
    """The highest ``>=`` bound of Requires-Python among the installed pinned distributions, and whose."""
    best = (Version("0"), "")
    for name in pins:
        try:
            requires = metadata.distribution(name).metadata.get("Requires-Python") or ""
        except metadata.PackageNotFoundError:  # e.g. playwright, the browser test's, is installed on demand
            continue
        for spec in SpecifierSet(requires):
            if spec.operator == ">=" and Version(spec.version) > best[0]:
                best = (Version(spec.version), name)
    return best


@pytest.fixture(scope="module")
def requires_python() -> Version:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return _minimum(project["requires-python"])


def test_readme_docs_and_environment_state_the_requires_python_version(requires_python: Version) -> None:
    stated = f"{requires_python.major}.{requires_python.minor}"
    for name in VERSION_TEXTS:
        text = (ROOT / name).read_text(encoding="utf-8")
        for found in re.findall(r"Python (\d+\.\d+)\+", text):
            assert found == stated, f"{name} says Python {found}+, pyproject.toml's requires-python >={stated}"
    assert f"Python {stated}+" in (ROOT / "README.md").read_text(encoding="utf-8")
    environment = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda_python = [d.split("=", 1)[1] for d in environment["dependencies"] if isinstance(d, str)
                    and d.startswith("python=")]
    assert conda_python == [binder.PYTHON] and Version(binder.PYTHON) >= requires_python
    assert SpecifierSet(f">={requires_python}").contains(f"{sys.version_info.major}.{sys.version_info.minor}")


def test_the_package_s_pinned_dependencies_run_on_the_stated_minimum(requires_python: Version) -> None:
    """Every pin the package's dependencies need (transitively) admits requires-python's minimum: numpy 2.4,
    pandas 3.1 and scipy 1.17 need 3.11, so `>=3.10` would fail here."""
    pins = binder.read_pins(ROOT / "constraints.txt")
    core = binder.closure(binder.declared_requirements(ROOT / "pyproject.toml", extras=()), pins,
                          ROOT / "constraints.txt")
    strictest, name = _strictest_pinned_python(core)
    assert strictest <= requires_python, f"{name} (constraints.txt) needs Python {strictest}+"
    assert strictest == requires_python, (f"requires-python >={requires_python} is lower than the pins need "
                                          f"({name}: {strictest}); say the minimum the pins need")


def test_the_readme_names_the_patch_release_the_whole_pinned_set_needs(requires_python: Version) -> None:
    """The notebook and test tooling's pins may need a later patch release (soupsieve, via nbconvert): the
    README's quick start says so, since course.sh installs them all."""
    strictest, name = _strictest_pinned_python(binder.read_pins(ROOT / "constraints.txt"))
    if strictest > requires_python:
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        assert f"Python {strictest} or later" in readme and name in readme, (name, strictest)


def test_the_package_version_is_pyproject_s() -> None:
    """bmcourse.__version__ (written into every versioned model folder's manifest) is the released version."""
    import bmcourse

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert bmcourse.__version__ == project["version"], "bump pyproject.toml's version and bmcourse.__version__ together"
