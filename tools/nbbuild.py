"""Turn a py-percent script (``# %%`` / ``# %% [markdown]`` / ``# %% tags=["solution"]``) into cells."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

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
