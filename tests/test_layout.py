"""The package's layout rules (docs/maintainers.md): imports point downward, one job per module.

Layers, lowest first: the core the notebooks import (``bmcourse/*.py``, ``data/``, ``train/``,
``reference/``), the topics in course order (``transfer`` ← ``apps`` ← ``deploy``: a later notebook's
topic may use an earlier one's), the benchmarks (``bench/``), and the maintainer side (``course/``).
A module may import its own layer or a lower one, never a higher one; no private name crosses a
module boundary; no module is much over 400 lines; each says its job in a docstring.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bmcourse"
TOPICS = ("transfer", "apps", "deploy")
MAX_LINES = 420  # "about 400"


def layer(module: str) -> int:
    """The layer of a dotted module name inside bmcourse: 0 core, 1-3 topics, 4 bench, 5 course."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top in TOPICS:
        return 1 + TOPICS.index(top)
    return {"bench": 4, "course": 5}.get(top, 0)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, imported module, names)`` for every bmcourse import in a module, function-level ones too."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "bmcourse"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "bmcourse":
                found.append((node.lineno, target, [a.name for a in node.names]))
    return found


ALL = modules()


@pytest.mark.parametrize("name", sorted(ALL))
def test_imports_point_downward(name: str) -> None:
    wrong = [f"{ALL[name].name}:{line} imports {target} (layer {layer(target)} above {layer(name)})"
             for line, target, _ in imports(name, ALL[name]) if layer(target) > layer(name)]
    assert not wrong, "; ".join(wrong)


@pytest.mark.parametrize("name", sorted(ALL))
def test_no_private_name_crosses_a_module(name: str) -> None:
    wrong = []
    for line, target, names in imports(name, ALL[name]):
        if target == name:
            continue
        wrong += [f"{ALL[name].name}:{line} imports {target}.{n}" for n in names if n.startswith("_")]
    assert not wrong, "; ".join(wrong)


@pytest.mark.parametrize("name", sorted(ALL))
def test_one_job_per_module(name: str) -> None:
    text = ALL[name].read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= MAX_LINES, f"{ALL[name]} has {lines} lines: split it by job"
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring and len(docstring.split()) >= 6, f"{ALL[name]} needs a docstring saying its one job"


def test_the_runtime_never_loads_the_maintainer_side() -> None:
    core = [n for n in ALL if layer(n) < layer("bmcourse.bench") and not n.endswith("__main__")]
    code = ("import importlib, sys\n"
            f"for name in {core!r}:\n    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('bmcourse.course', 'bmcourse.bench'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", f"importing the core and the topics loaded {loaded.strip()}"


def test_the_maintainer_guide_names_every_module() -> None:
    """docs/maintainers.md's layout tree lists every module and sub-package, so it cannot drift from the code."""
    text = (PACKAGE.parent / "docs" / "maintainers.md").read_text(encoding="utf-8")
    tree = text[text.index("<!-- layout:start -->"):text.index("<!-- layout:end -->")]
    listed = set(re.findall(r"[─ ]([\w]+(?:\.py|/))", tree))
    wanted = {p.name for p in PACKAGE.glob("*.py")} | {p.name + "/" for p in PACKAGE.iterdir()
                                                        if p.is_dir() and not p.name.startswith("__")}
    for sub in (p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        wanted |= {f.name for f in sub.glob("*.py") if f.name != "__init__.py"}
    missing = sorted(wanted - listed)
    assert not missing, f"docs/maintainers.md's layout tree does not list {missing}: add a line each"
