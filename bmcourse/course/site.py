"""The course website: Sphinx + MyST-NB over the stored notebooks (never re-executed), English and Chinese.

``bmcourse site --out _site`` writes ``_site/en/`` and ``_site/zh-CN/`` (each edition built from its own
notebooks: ``notebooks/*.ipynb`` and the generated ``notebooks/zh-CN/*.ipynb``) and ``_site/index.html``,
which sends the reader to the edition of their browser's language. Every script the pages load is
served from the site itself (``site/_static/vendor``: MathJax, mermaid; Sphinx's own search), so the
site works offline and behind networks that cannot reach a CDN. Each page links to the same page in
the other edition; each notebook page has Colab and Binder launch links and a download link.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bmcourse.errors import BmcourseError

from . import links
from .nbtools import course_notebooks

ROOT = Path(__file__).resolve().parents[2]
SITE_DIR = ROOT / "site"                      #: templates, CSS and the vendored scripts
VENDOR = {"mathjax": "vendor/mathjax/tex-svg.js", "mermaid": "vendor/mermaid/mermaid.min.js"}


@dataclass(frozen=True)
class Edition:
    """One language of the site: where its notebooks and texts come from, and its words."""

    code: str           #: the folder under the site root, and the hreflang
    sphinx_language: str
    notebooks: str      #: folder of the edition's notebooks, relative to the repository
    readme: str         #: the README whose introduction and set-up the home and setup pages use
    setup_from: str     #: the README heading the setup page starts at
    setup_to: str       #: the README heading it stops before
    words: dict


WORDS_EN = {"title": "bmcourse: adapting pretrained models", "notebooks": "Notebooks",
            "guides": "Guides", "setup": "Setup", "instructors": "Instructor guide", "glossary": "Glossary",
            "switch": "中文", "colab": "Open in Colab", "binder": "Launch on Binder",
            "download": "Download notebook",
            "glossary_intro": "One English term, one Chinese term: the Chinese edition uses exactly these.",
            "instructors_note": "",
            "china": "Installing from mainland China (PyPI and Hugging Face mirrors, ModelScope, the notebook "
                     "platforms that work there): see the [Chinese setup page](../zh-CN/setup.html)."}
WORDS_ZH = {"title": "bmcourse：预训练模型的适配", "notebooks": "笔记本", "guides": "指南",
            "setup": "安装与运行", "instructors": "教师指南（英文）", "glossary": "术语表", "switch": "English",
            "colab": "在 Colab 中打开", "binder": "在 Binder 中启动", "download": "下载笔记本",
            "glossary_intro": "一个英文术语对应一个中文术语：中文版全部按此表用词。",
            "instructors_note": "> 本指南目前只有英文版。命令同样适用于中文版：`bmcourse assign --lang zh-CN`、"
                                "`bmcourse student --lang zh-CN`。\n\n",
            "china": ""}
EDITIONS = (
    Edition("en", "en", "notebooks", "README.md", "## Quick start", "## Getting help", WORDS_EN),
    Edition("zh-CN", "zh_CN", "notebooks/zh-CN", "README.zh-CN.md", "## 快速开始", "## 维护中文版", WORDS_ZH),
)
PAGES = ("index", "setup", "instructors", "glossary")  #: the pages besides the notebooks


def edition(code: str) -> Edition:
    """The edition whose code is ``code`` (``en`` or ``zh-CN``)."""
    for candidate in EDITIONS:
        if candidate.code == code:
            return candidate
    raise BmcourseError(f"no site edition {code!r}: choose one of {', '.join(e.code for e in EDITIONS)}")


def notebook_names(root: Path = ROOT) -> list[str]:
    """The course notebooks' stems (``00_foundations``, ...), in order."""
    return [p.stem for p in course_notebooks(root / "notebooks")]


def other(ed: Edition) -> Edition:
    """The other edition (the language switch's target)."""
    return next(e for e in EDITIONS if e.code != ed.code)


def readme_part(text: str, start: str | None, stop: str | None) -> str:
    """The lines of ``text`` from the heading ``start`` (or the top) up to the heading ``stop`` (exclusive)."""
    lines = text.splitlines()
    first = 0 if start is None else next((i for i, line in enumerate(lines) if line.startswith(start)), None)
    if first is None:
        raise BmcourseError(f"the README has no heading starting {start!r}: the site's setup page starts there")
    last = next((i for i, line in enumerate(lines) if stop and i > first and line.startswith(stop)), len(lines))
    return "\n".join(lines[first:last]).strip() + "\n"


def drop_badges(text: str) -> str:
    """``text`` without badge images (they load from other sites) and without the README's badge block."""
    text = re.sub(re.escape(links.BADGES_START) + r".*?" + re.escape(links.BADGES_END), "", text, flags=re.S)
    return re.sub(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)\s*", "", text)


def rewrite_links(text: str, source: str, repo: str, pages: dict[str, str]) -> str:
    """Relative links of a repository file as site links: a page of the site when there is one
    (``pages``: repository path -> page), else the file on GitHub (never a broken link)."""
    base = Path(source).parent

    def fix(match: re.Match) -> str:
        label, target = match.group(1), match.group(2)
        if re.match(r"[a-z]+:|#|mailto:", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = (base / path).as_posix()
        resolved = re.sub(r"(^|/)[^/]+/\.\./", r"\1", resolved).removeprefix("./")
        if resolved in pages:
            return f"[{label}]({pages[resolved]}{'#' + anchor if anchor else ''})"
        return f"[{label}]({repo}/blob/{links.BRANCH}/{resolved}{'#' + anchor if anchor else ''})"

    return re.sub(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)", fix, text)


def code_paths_as_links(text: str) -> str:
    """```notebooks/…/NN_name.ipynb``` in the notebook map as a link to that notebook's page."""
    return re.sub(r"`(?:notebooks/(?:zh-CN/)?)(\d\d_\w+)\.ipynb`", r"[\1](\1.ipynb)", text)


def page_sources(ed: Edition, root: Path, repo: str) -> dict[str, str]:
    """The markdown of the home, setup, instructor-guide and glossary pages of ``ed``."""
    from bmcourse.concepts import glossary

    words, names = ed.words, notebook_names(root)
    pages = {"README.md": "index.md", "README.zh-CN.md": "index.md", "docs/instructors.md": "instructors.md"}
    pages.update({f"{ed.notebooks}/{name}.ipynb": f"{name}.ipynb" for name in names})
    readme = (root / ed.readme).read_text(encoding="utf-8")
    start = readme_part(readme, None, ed.setup_from)
    intro = code_paths_as_links(drop_badges(start))  # the README's notebook map, linked to the pages
    intro = re.sub(r"^\[English\]\(README\.md\)\s*$", "", intro, flags=re.M)
    toc = "\n".join(names)
    home = (f"{rewrite_links(intro, ed.readme, repo, pages)}\n"
            f"```{{toctree}}\n:caption: {words['notebooks']}\n:maxdepth: 1\n:hidden:\n\n{toc}\n```\n\n"
            f"```{{toctree}}\n:caption: {words['guides']}\n:maxdepth: 1\n:hidden:\n\nsetup\ninstructors\nglossary\n```\n")
    home += (f"\n- [{words['setup']}](setup.md)\n- [{words['instructors']}](instructors.md)\n"
             f"- [{words['glossary']}](glossary.md)\n")
    setup = drop_badges(readme_part(readme, ed.setup_from, ed.setup_to))
    setup = f"# {words['setup']}\n\n{setup}"
    if words["china"]:
        setup += f"\n## Mainland China\n\n{words['china']}\n"
    instructors = (root / "docs/instructors.md").read_text(encoding="utf-8")
    instructors = rewrite_links(instructors, "docs/instructors.md", repo, pages)
    if words["instructors_note"]:  # the guide is English only: a Chinese title and a note saying so
        _, _, rest = instructors.partition("\n")
        instructors = f"# {words['instructors']}\n\n{words['instructors_note']}{rest}"
    rows = "\n".join(f"| {r['English']} | {r['中文']} |" for r in glossary())
    glossary_page = f"# {words['glossary']}\n\n{words['glossary_intro']}\n\n| English | 中文 |\n|---|---|\n{rows}\n"
    return {"index.md": home, "setup.md": rewrite_links(setup, ed.readme, repo, pages),
            "instructors.md": instructors, "glossary.md": glossary_page}


def copied_images(text: str, source: Path, dest: Path) -> None:
    """Copy the local images ``text`` shows (``![..](path)``) next to the page, same relative path."""
    for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        (dest / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source.parent / target, dest / target)


def launch_links(ed: Edition, repo: str, root: Path) -> dict[str, dict[str, str]]:
    """Per notebook page: its Colab, Binder and download addresses."""
    return {name: {"colab": links.colab_url(repo, f"{ed.notebooks}/{name}.ipynb"),
                   "binder": links.binder_url(repo, f"{ed.notebooks}/{name}.ipynb"),
                   "download": f"_notebooks/{name}.ipynb"}
            for name in notebook_names(root)}


def conf_py(ed: Edition, repo: str, root: Path) -> str:
    """The Sphinx configuration of one edition."""
    words, twin = ed.words, other(ed)
    context = {"bmcourse_launch": launch_links(ed, repo, root), "bmcourse_words": words,
               "bmcourse_other": {"code": twin.code, "label": words["switch"]}, "bmcourse_mermaid": VENDOR["mermaid"]}
    js_files = [("zh-search-stemmer.js", {"priority": 200})] if ed.code == "zh-CN" else []
    search_options = f"{{'dict': __file__[:-len('conf.py')] + {SEARCH_DICT_NAME!r}}}" if ed.code == "zh-CN" else "{}"
    return f'''# Generated by bmcourse.course.site for the {ed.code} edition: edit that module, not this file.
project = "bmcourse"
author = "bmcourse"
language = {ed.sphinx_language!r}
extensions = ["myst_nb", "bmcourse.course.site_mermaid"]
nb_execution_mode = "off"
nb_merge_streams = True
nb_render_markdown_format = "myst"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_fence_as_directive = ["mermaid"]
myst_heading_anchors = 3
html_theme = "furo"
html_title = {words["title"]!r}
html_static_path = [{str(SITE_DIR / "_static")!r}]
templates_path = [{str(SITE_DIR / "_templates")!r}]
html_css_files = ["bmcourse.css"]
html_js_files = {js_files!r}
html_extra_path = ["_extra"]
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {{"announcement": " "}}
html_context = {json.dumps(context, ensure_ascii=False)}
mathjax_path = {VENDOR["mathjax"]!r}
html_search_language = {"zh" if ed.code == "zh-CN" else "en"!r}
html_search_options = {search_options}
exclude_patterns = ["_extra"]
suppress_warnings = ["misc.highlighting_failure", "myst.header"]
'''


SEARCH_DICT_NAME = "_search_words.txt"  #: jieba's user dictionary for the Chinese search index


def search_dictionary() -> str:
    """The glossary's Chinese terms as a jieba user dictionary, so a search for a whole term such as
    灾难性遗忘 finds it (jieba alone splits it into 灾难性 / 遗忘 and the index lacks the whole)."""
    from bmcourse.concepts import glossary

    terms = {part for row in glossary() for part in re.findall(r"[\u4e00-\u9fff]{2,}", row["中文"])}
    return "".join(f"{term} 1000\n" for term in sorted(terms))


def write_edition_sources(ed: Edition, src: Path, root: Path = ROOT) -> None:
    """The Sphinx source folder of ``ed``: its notebooks (outputs as stored), pages and configuration."""
    repo = links.repository_url(root)
    if src.exists():
        shutil.rmtree(src)
    (src / "_extra" / "_notebooks").mkdir(parents=True)
    for name in notebook_names(root):
        notebook = root / ed.notebooks / f"{name}.ipynb"
        if not notebook.exists():
            raise BmcourseError(f"{notebook.relative_to(root)} is missing: run `bmcourse translate build` "
                                f"and `bmcourse store {notebook.relative_to(root)}`")
        shutil.copy2(notebook, src / f"{name}.ipynb")
        shutil.copy2(notebook, src / "_extra" / "_notebooks" / f"{name}.ipynb")
    for page, text in page_sources(ed, root, repo).items():
        (src / page).write_text(text, encoding="utf-8")
        if page == "instructors.md":
            copied_images(text, root / "docs" / "instructors.md", src)
    if ed.code == "zh-CN":
        (src / SEARCH_DICT_NAME).write_text(search_dictionary(), encoding="utf-8")
    (src / "conf.py").write_text(conf_py(ed, repo, root), encoding="utf-8")


def quiet_jieba() -> None:
    """Keep jieba's start-up lines (the Chinese search index uses it) off the build's output."""
    import logging

    try:
        import jieba
    except ImportError:
        raise BmcourseError("the Chinese site's search needs jieba: pip install -c constraints.txt -e '.[site]'") from None
    jieba.setLogLevel(logging.WARNING)


REDIRECT = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bmcourse</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>
var zh = (navigator.languages || [navigator.language || ""]).some(function (l) { return /^zh/i.test(l); });
location.replace(zh ? "zh-CN/index.html" : "en/index.html");
</script></head>
<body><p><a href="en/index.html" hreflang="en">English</a> · <a href="zh-CN/index.html" hreflang="zh-CN">中文</a></p></body></html>
"""


def build(out: Path, work: Path | None = None, root: Path = ROOT, quiet: bool = True) -> dict[str, float]:
    """Build every edition into ``out`` (``out/en``, ``out/zh-CN``, ``out/index.html``); returns seconds
    per edition. Raises with Sphinx's warnings when the build warns (a broken reference, a missing image)."""
    from sphinx.cmd.build import build_main

    quiet_jieba()

    work = work or out.parent / f".{out.name}-src"
    out.mkdir(parents=True, exist_ok=True)
    seconds = {}
    for ed in EDITIONS:
        start = time.perf_counter()
        src = work / ed.code
        write_edition_sources(ed, src, root)
        warnings = work / f"{ed.code}-warnings.txt"
        target, doctrees = out / ed.code, work / f"{ed.code}-doctrees"
        for stale in (target, doctrees):  # always a full build: nothing left from an earlier one
            if stale.exists():
                shutil.rmtree(stale)
        args = ["-b", "html", "-n", "-w", str(warnings), "-d", str(doctrees), str(src), str(target)]
        status = build_main(["-q", *args] if quiet else args)
        text = warnings.read_text(encoding="utf-8").strip() if warnings.exists() else ""
        if status or text:
            raise BmcourseError(f"the {ed.code} site did not build cleanly (sphinx exit {status}); fix these "
                                f"in the notebook or page they name:\n{text}")
        seconds[ed.code] = time.perf_counter() - start
    (out / "index.html").write_text(REDIRECT, encoding="utf-8")
    (out / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: serve _static/ and _images/ as they are
    return seconds


def html_pages(out: Path) -> list[Path]:
    """Every HTML page of a built site."""
    return sorted(out.rglob("*.html"))


def external_loads(page: Path) -> list[str]:
    """Addresses a page would fetch from another site (scripts, styles, images, fonts): none allowed."""
    text = page.read_text(encoding="utf-8")
    found = re.findall(r"<(?:script|img|link|iframe|source)\b[^>]*?\b(?:src|href)=[\"']((?:https?:)?//[^\"']+)", text)
    return found + re.findall(r"url\(\s*[\"']?((?:https?:)?//[^)\"']+)", text)


def problems(out: Path) -> list[str]:
    """Everything wrong with a built site: broken internal links and images, and loads from other sites."""
    return broken_links(out) + [f"{page.relative_to(out)}: loads {url} from another site"
                                for page in html_pages(out) for url in external_loads(page)]


def broken_links(out: Path) -> list[str]:
    """Internal links and images of the built site that point at nothing: ``page: target``."""
    problems = []
    for page in html_pages(out):
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\b(?:href|src)=[\"']([^\"'#?]+)(?:[#?][^\"']*)?[\"']", text):
            target = html.unescape(target)
            if re.match(r"[a-z]+:|//", target) or not target:
                continue
            if not (page.parent / target).exists():
                problems.append(f"{page.relative_to(out)}: {target}")
    return problems
