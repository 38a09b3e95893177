"""The course website in a real browser (headless Debian Chromium under Playwright), served from loopback.

The site is built once (``bmcourse.course.site.build``, both editions, from the stored notebooks) and
served by a local HTTP server. Every request to another host is blocked and recorded, so a page that
needs a CDN fails here the way it would fail in an offline classroom. Checked: every page loads with no
console error, no failed request and no request off the site; a formula is typeset (MathJax's SVG); the
concept map is drawn (mermaid's SVG); the language switch lands on the same chapter in the other
edition and back; search finds a term of notebook 03 in each edition; no notebook page at phone width
(390 px) scrolls sideways, and the language switch shows there. Screenshots of notebook 03 in each
language (desktop and phone) go to ``results/browser_site_*.png``.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from test_jupyterlab import RESULTS, chromium_path, sync_playwright

from bmcourse.course import site

NB03 = "03_domain_transfer"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server that keeps its access log off the test output."""

    def log_message(self, *args) -> None:  # noqa: D102
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The site built into a temporary folder and served on 127.0.0.1: (base URL, folder)."""
    out = tmp_path_factory.mktemp("site") / "_site"
    site.build(out)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(out)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", out
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Debian Chromium under Playwright."""
    executable = chromium_path()
    playwright = sync_playwright()().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"])
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@contextlib.contextmanager
def watched_page(browser, base: str, viewport: dict | None = None) -> Iterator[tuple]:
    """A page whose console errors, page errors, failed requests and off-site requests are recorded."""
    context = browser.new_context(viewport=viewport or DESKTOP)
    page = context.new_page()
    record: dict[str, list[str]] = {"console": [], "errors": [], "failed": [], "offsite": []}
    host = urlparse(base).netloc

    def route(request_route) -> None:
        url = request_route.request.url
        if urlparse(url).netloc != host and not url.startswith(("data:", "blob:", "about:")):
            record["offsite"].append(url)
            request_route.abort()
        else:
            request_route.continue_()

    context.route("**/*", route)
    page.on("console", lambda m: record["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: record["errors"].append(str(e)))
    page.on("requestfailed", lambda r: record["failed"].append(r.url))
    page.on("response", lambda r: record["failed"].append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        yield page, record
    finally:
        context.close()


def test_every_page_loads_offline_without_errors(browser, served) -> None:
    base, out = served
    pages = [p.relative_to(out).as_posix() for p in site.html_pages(out)]
    assert len(pages) >= 2 * (len(site.notebook_names()) + len(site.PAGES)), pages
    problems = []
    with watched_page(browser, base) as (page, record):
        for name in pages:
            for key in record:
                record[key].clear()
            page.goto(f"{base}/{name}", wait_until="networkidle")
            if name == "index.html":  # the root sends the reader to an edition
                page.wait_for_url(re.compile(r"/(en|zh-CN)/index\.html$"))
            page.wait_for_timeout(50)
            problems += [f"{name}: {key}: {item}" for key, items in record.items() for item in items]
    assert not problems, "\n".join(problems)


def test_math_is_typeset_and_the_concept_map_is_drawn(browser, served) -> None:
    base, _ = served
    with watched_page(browser, base) as (page, record):
        page.goto(f"{base}/en/01_loss_and_gradients.html", wait_until="networkidle")
        page.wait_for_selector("mjx-container svg", timeout=30_000)
        assert page.locator("mjx-container").count() > 10
        page.goto(f"{base}/zh-CN/00_foundations.html", wait_until="networkidle")
        page.wait_for_selector("pre.mermaid svg", timeout=60_000)
        assert "迁移学习" in page.locator("pre.mermaid svg").text_content()
        assert not record["offsite"] and not record["errors"], record


@pytest.mark.parametrize("start, other", [("en", "zh-CN"), ("zh-CN", "en")])
def test_the_language_switch_lands_on_the_same_chapter(browser, served, start: str, other: str) -> None:
    base, _ = served
    with watched_page(browser, base) as (page, _record):
        page.goto(f"{base}/{start}/{NB03}.html", wait_until="load")
        page.click("#bmcourse-lang")
        page.wait_for_url(f"{base}/{other}/{NB03}.html")
        assert page.locator("h1").first.inner_text().startswith("03 ·"), "the same chapter"
        assert page.locator("html").get_attribute("lang").startswith(other.split("-")[0])


@pytest.mark.parametrize("edition, term", [("en", "LoRA"), ("zh-CN", "弹性权重巩固")])
def test_search_finds_a_term_of_notebook_03(browser, served, edition: str, term: str) -> None:
    base, _ = served
    with watched_page(browser, base) as (page, record):
        page.goto(f"{base}/{edition}/search.html?q={term}", wait_until="networkidle")
        page.wait_for_selector(f"#search-results a[href*='{NB03}']", timeout=30_000)
        assert not record["errors"], record


def test_notebook_pages_fit_a_phone_and_screenshots(browser, served) -> None:
    base, _ = served
    RESULTS.mkdir(exist_ok=True)
    too_wide = []
    for edition in ("en", "zh-CN"):
        with watched_page(browser, base, PHONE) as (page, record):
            for name in site.notebook_names():
                page.goto(f"{base}/{edition}/{name}.html", wait_until="load")
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > PHONE["width"] + 1:
                    too_wide.append(f"{edition}/{name}: {width} px")
                assert page.locator(".bmcourse-launch a[download]").count() == 1
                assert page.locator("#bmcourse-lang").is_visible(), "the language switch shows on a phone"
            page.goto(f"{base}/{edition}/{NB03}.html", wait_until="networkidle")
            page.screenshot(path=str(RESULTS / f"browser_site_{edition}_phone.png"))
        with watched_page(browser, base) as (page, record):
            page.goto(f"{base}/{edition}/{NB03}.html", wait_until="networkidle")
            page.screenshot(path=str(RESULTS / f"browser_site_{edition}.png"))
    assert not too_wide, f"pages wider than a {PHONE['width']} px screen: {too_wide}"
