"""The repository's address in one place (``pyproject.toml``): Colab and Binder badges, the Colab install line.

``bmcourse links`` rewrites the README's badge block and the notebooks' Colab install line from
``[project.urls] Repository``; ``bmcourse links --check`` (a test) fails when they disagree with it.
"""
from __future__ import annotations

import re
from pathlib import Path

from bmcourse.errors import BmcourseError

from .nbtools import course_notebooks, sync
from .pyproject import project_table

BRANCH = "main"
BADGES_START, BADGES_END = "<!-- badges:start (bmcourse links) -->", "<!-- badges:end -->"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
INSTALL_LINE = re.compile(r'(# )?%pip install (--quiet|--upgrade-strategy only-if-needed) "bmcourse @ git\+[^"]*"')


def repository_url(root: Path = Path(".")) -> str:
    """``[project.urls] Repository`` of ``root/pyproject.toml``: a ``https://github.com/OWNER/NAME`` address."""
    path = root / "pyproject.toml"
    url = project_table(path).get("urls", {}).get("Repository", "")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url.rstrip("/")):
        raise BmcourseError(f"{path}: [project.urls] Repository = {url!r} is not a https://github.com/OWNER/NAME "
                            "address; set it there (the badges and the Colab install line are built from it)")
    return url.rstrip("/")


def colab_url(repo: str, notebook: str) -> str:
    """The Colab address that opens ``notebook`` (a path in the repository) from GitHub."""
    return f"https://colab.research.google.com/github/{repo.removeprefix('https://github.com/')}/blob/{BRANCH}/{notebook}"


def binder_url(repo: str, path: str = "notebooks") -> str:
    """The Binder address that starts JupyterLab on ``path`` (the notebooks folder, or one notebook) of the
    default branch (``HEAD``)."""
    return f"https://mybinder.org/v2/gh/{repo.removeprefix('https://github.com/')}/HEAD?urlpath=lab/tree/{path}"


def install_line(repo: str) -> str:
    """The Colab-only ``%pip`` line of the notebooks' setup cells: not quiet, so pip's last line lists what it
    installed, and ``only-if-needed`` so Colab's own torch, transformers, ... stay when they meet the course's ranges."""
    return f'%pip install --upgrade-strategy only-if-needed "bmcourse @ git+{repo}"'


def badges_block(repo: str, notebooks: list[Path]) -> str:
    """The README's badge block: Binder for the course, then one Colab badge per notebook."""
    lines = [BADGES_START,
             f"[![Launch the course on Binder]({BINDER_BADGE})]({binder_url(repo)}) "
             "(JupyterLab with everything installed; the first start builds for a few minutes)", "",
             "| notebook | open in Colab |", "|---|---|"]
    for path in notebooks:
        name = path.as_posix()
        lines.append(f"| `{path.stem}` | [![Open {path.stem} in Colab]({COLAB_BADGE})]({colab_url(repo, name)}) |")
    return "\n".join([*lines, BADGES_END])


def _notebook_paths(root: Path) -> list[Path]:
    """The course's notebooks, relative to ``root``."""
    return [p.relative_to(root) for p in course_notebooks(root / "notebooks")]


def stale(root: Path = Path(".")) -> list[str]:
    """Files whose badges or Colab install line disagree with ``pyproject.toml`` (empty when all agree;
    the .ipynb side of each pair is covered by the pair-sync test)."""
    return [str(path) for path, text, fixed in _rewrites(root) if text != fixed]


def _rewrites(root: Path) -> list[tuple[Path, str, str]]:
    """(file, current text, text built from the repository address) for the README and every notebook pair."""
    repo = repository_url(root)
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    if BADGES_START not in text or BADGES_END not in text:
        raise BmcourseError(f"{readme}: no badge block; put the two lines {BADGES_START} and {BADGES_END} "
                            "where the badges belong, then run `bmcourse links`")
    head, rest = text.split(BADGES_START, 1)
    fixed = head + badges_block(repo, _notebook_paths(root)) + rest.split(BADGES_END, 1)[1]
    out = [(readme, text, fixed)]
    for path in _notebook_paths(root):  # the .py sources; `bmcourse sync` carries them to the .ipynb
        source = root / path.with_suffix(".py")
        current = source.read_text(encoding="utf-8")
        out.append((source, current, _fix_install(current, repo, source)))
    return out


def _fix_install(text: str, repo: str, file: Path) -> str:
    """A py:percent source with its Colab install line pointing at ``repo`` (a ``# %pip`` magic comment)."""
    if not INSTALL_LINE.search(text):
        raise BmcourseError(f"{file}: no Colab install line ({install_line(repo)}) in the setup cell; add it "
                            "inside the `if \"google.colab\" in sys.modules:` block")
    return INSTALL_LINE.sub(lambda m: "# " + install_line(repo), text)


def write(root: Path = Path(".")) -> list[str]:
    """Rewrite the README badges and the notebooks' install lines from ``pyproject.toml`` (and sync the
    changed pairs); returns the files changed."""
    changed = []
    for path, text, fixed in _rewrites(root):
        if text != fixed:
            path.write_text(fixed, encoding="utf-8")
            changed.append(str(path))
            if path.suffix == ".py":
                sync(path.with_suffix(".ipynb"))
    return changed
