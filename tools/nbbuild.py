"""Turn a py-percent script (``# %%`` / ``# %% [markdown]`` / ``# %% tags=["solution"]``) into cells."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

_HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def cells_from(source: str, markdown: Callable[..., Any], code: Callable[..., Any]) -> list[Any]:
    """Cells in order; markdown lines lose their leading ``# ``; tags go to cell metadata."""
    cells, kind, tags, lines = [], None, [], []

    def flush() -> None:
        text = "\n".join(lines).strip("\n")
        if kind is None or not text:
            return
        if kind == "md":
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.split("\n"))
            cells.append(markdown(text))
        else:
            cells.append(code(text, metadata={"tags": tags} if tags else {}))

    for line in source.split("\n"):
        match = _HEADER.match(line)
        if match:
            flush()
            kind = "md" if match.group("md") else "code"
            tags = json.loads(match.group("tags")) if match.group("tags") else []
            lines = []
        else:
            lines.append(line)
    flush()
    return cells


def build_notebook(source: str) -> Any:
    """A notebook (kernelspec ``python3``, no outputs) from py-percent ``source``."""
    nb = new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nb.cells = cells_from(source, new_markdown_cell, new_code_cell)
    return nb


def write_notebook(source: str, name: str) -> Path:
    """Write ``notebooks/<name>`` from py-percent ``source``; run ``bmcourse store`` on it next."""
    nb = build_notebook(source)
    out = NOTEBOOKS / name
    nbformat.write(nb, out)
    print(f"wrote {out} ({len(nb.cells)} cells)")
    return out
