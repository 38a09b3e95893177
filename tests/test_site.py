"""The course website (``bmcourse site``): built offline from the stored notebooks, both editions, and
link-checked. The browser half (pages load with no console error, math typeset, the language switch,
search, a phone-width page) is ``tests/browser/test_site.py``."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from bmcourse.course import site
from bmcourse.course.cli import main
from bmcourse.errors import BmcourseError

ROOT = Path(__file__).resolve().parents[1]
NAMES = site.notebook_names()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both editions built once by the command itself (it fails on a broken link or an off-site load)."""
    out = tmp_path_factory.mktemp("site") / "_site"
    assert main(["site", "--out", str(out)]) == 0
    return out


def test_six_notebooks_and_four_pages_in_each_edition(built: Path) -> None:
    assert len(NAMES) == 6
    for ed in site.EDITIONS:
        for page in [*NAMES, *site.PAGES, "search"]:
            assert (built / ed.code / f"{page}.html").is_file(), f"{ed.code}/{page}.html"
        for name in NAMES:  # the download link's target: the notebook as stored, outputs included
            assert (built / ed.code / "_notebooks" / f"{name}.ipynb").read_bytes() == \
                (ROOT / ed.notebooks / f"{name}.ipynb").read_bytes()
    assert (built / "index.html").is_file() and (built / ".nojekyll").is_file()


def test_every_page_has_its_twin_in_the_other_edition(built: Path) -> None:
    en = {p.relative_to(built / "en") for p in site.html_pages(built / "en")}
    zh = {p.relative_to(built / "zh-CN") for p in site.html_pages(built / "zh-CN")}
    assert en == zh, f"the language switch would land on a missing page: {sorted(en ^ zh)}"


def test_no_broken_link_and_nothing_loaded_from_another_site(built: Path) -> None:
    assert not site.broken_links(built)
    pages = site.html_pages(built)
    assert not [f"{p}: {u}" for p in pages for u in site.external_loads(p)]
    assert site.external_loads(_page(built.parent, '<script src="https://cdn.example.org/x.js"></script>'))
    broken_site = built.parent / "broken"
    broken_site.mkdir(exist_ok=True)
    (broken_site / "a.html").write_text('<a href="missing.html">x</a><img src="_images/none.png">', encoding="utf-8")
    assert site.broken_links(broken_site) == ["a.html: missing.html", "a.html: _images/none.png"]


def _page(folder: Path, body: str) -> Path:
    path = folder / "probe.html"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("code", ["en", "zh-CN"])
def test_a_notebook_page_shows_outputs_math_plots_and_launch_links(built: Path, code: str) -> None:
    ed = site.edition(code)
    text = (built / code / "01_loss_and_gradients.html").read_text(encoding="utf-8")
    assert 'class="math' in text and "vendor/mathjax/tex-svg.js" in text
    assert re.search(r'<img[^>]+src="_images/[^"]+\.png"', text), "the stored plots are on the page"
    assert "gradient of the penalised loss" in text, "a stored stream output is on the page"
    assert f"colab.research.google.com/github/bmcourse/bmcourse/blob/main/{ed.notebooks}/01_loss_and_gradients.ipynb" in text
    assert f"urlpath=lab/tree/{ed.notebooks}/01_loss_and_gradients.ipynb" in text
    assert 'href="_notebooks/01_loss_and_gradients.ipynb" download' in text
    assert f'href="../{site.other(ed).code}/01_loss_and_gradients.html"' in text
    assert f'<html class="no-js" lang="{ed.sphinx_language.replace("_", "-")}"' in text or f'lang="{ed.sphinx_language}"' in text


def test_the_concept_map_is_a_mermaid_diagram_with_its_own_script(built: Path) -> None:
    page = (built / "zh-CN" / "00_foundations.html").read_text(encoding="utf-8")
    assert '<pre class="mermaid">' in page and "flowchart LR" in page and "vendor/mermaid/mermaid.min.js" in page
    other = (built / "zh-CN" / "01_loss_and_gradients.html").read_text(encoding="utf-8")
    assert "mermaid.min.js" not in other, "mermaid.js (3.5 MB) loads only where a diagram is"


def test_the_chinese_edition_is_chinese_and_its_search_knows_whole_glossary_terms(built: Path) -> None:
    index = (built / "zh-CN" / "index.html").read_text(encoding="utf-8")
    assert "中文笔记本位于" in index and "术语表" in index
    search_index = (built / "zh-CN" / "searchindex.js").read_text(encoding="utf-8")
    assert '"\\u5f39\\u6027\\u6743\\u91cd\\u5de9\\u56fa"' in search_index or '"弹性权重巩固"' in search_index
    assert "zh-search-stemmer.js" in (built / "zh-CN" / "search.html").read_text(encoding="utf-8")
    glossary = (built / "zh-CN" / "glossary.html").read_text(encoding="utf-8")
    assert "灾难性遗忘" in glossary and "catastrophic forgetting" in glossary


def test_the_vendored_scripts_are_the_ones_recorded() -> None:
    table = (ROOT / "site/_static/vendor/README.md").read_text(encoding="utf-8")
    for relative in site.VENDOR.values():
        digest = hashlib.sha256((site.SITE_DIR / "_static" / relative).read_bytes()).hexdigest()
        assert f"`{relative.removeprefix('vendor/')}`" in table and digest in table, relative


def test_links_of_the_guides_become_site_pages_or_github_addresses() -> None:
    pages = {"docs/instructors.md": "instructors.md", "README.md": "index.md"}
    text = "[guide](instructors.md) [readme](../README.md#quick-start) [tool](../bmcourse/cli.py) [web](https://x.org)"
    fixed = site.rewrite_links(text, "docs/instructors.md", "https://github.com/o/r", pages)
    assert fixed == ("[guide](instructors.md) [readme](index.md#quick-start) "
                     "[tool](https://github.com/o/r/blob/main/bmcourse/cli.py) [web](https://x.org)")


def test_a_missing_heading_or_edition_is_a_clear_error() -> None:
    with pytest.raises(BmcourseError, match="no heading starting '## Nowhere'"):
        site.readme_part("# title\n## Quick start\n", "## Nowhere", None)
    with pytest.raises(BmcourseError, match="choose one of en, zh-CN"):
        site.edition("fr")


def test_the_pages_workflow_builds_what_ci_tests() -> None:
    import yaml

    workflow = yaml.safe_load((ROOT / ".github/workflows/site.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["build"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    assert runs == ["bash course.sh site --out _site"], runs
    assert any(step.get("with", {}).get("path") == "_site" for step in steps)
    course_sh = (ROOT / "course.sh").read_text(encoding="utf-8")
    assert re.search(r'site\)\n\s+shift; setup\n\s+exec "\$VENV/bin/bmcourse" site "\$@"', course_sh)
    assert ",site]" in course_sh, "course.sh installs the site extra, so the test environment is the build environment"
