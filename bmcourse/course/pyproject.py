"""Reading the repository's ``pyproject.toml``: the one TOML reader of the maintainer tools.

The Colab/Binder links read ``[project.urls] Repository`` from it and the Binder environment reads
``[project] dependencies`` and the optional-dependency extras; both go through :func:`read_pyproject`
(``tomllib``, part of Python since 3.11, the oldest Python the course supports).
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_pyproject(path: Path) -> dict[str, Any]:
    """``path`` (a ``pyproject.toml``) parsed as TOML."""
    with path.open("rb") as handle:
        return tomllib.load(handle)


def project_table(path: Path) -> dict[str, Any]:
    """The ``[project]`` table of ``path`` (empty when there is none)."""
    return read_pyproject(path).get("project", {})
