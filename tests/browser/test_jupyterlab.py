"""JupyterLab in a real browser: the course's widgets and the mermaid map render for a learner.

Run it with ``bash tests/browser/run.sh`` (it installs what is missing, then runs this file with
``BMCOURSE_BROWSER_TEST=1``; a plain ``pytest`` does not collect it, see ``conftest.py``).

One JupyterLab server (the venv's, loopback only, a random free port, a random token, root
``notebooks/``, smoke profile on CPU, offline) and one headless Debian Chromium driven by
Playwright serve both tests:

* ``test_mermaid_concept_map``: notebook 00's markdown mermaid block is drawn as an SVG
  (JupyterLab >= 4.1 renders mermaid itself; no code runs);
* ``test_ner_tagger_widget``: notebook 02 runs up to its ``widgets.tagger`` cell (the smoke
  training included), a sentence is typed into the widget, Tag is pressed, and coloured entity
  ``<mark>`` spans appear, in the DOM and as pixels of the entity colours in a screenshot.

* ``test_grading_feedback_page``: ``bmcourse assign`` and ``bmcourse grade`` on notebook 01 (two
  fabricated students, one wrong answer), then nbgrader's feedback page shows the score;
* ``test_formgrader_in_jupyterlab``: JupyterLab started in that course folder opens nbgrader's
  formgrader from its Nbgrader menu, and it lists the assignment.

Screenshots go to ``results/browser_*.png`` (git-ignored). The notebooks are never saved (autosave is off in
the test's own settings folder) and the test checks they are unchanged afterwards. On a failure
the page is screenshotted and JupyterLab's log is copied to ``results/``. The server, its kernels
and the browser are stopped whatever happens.
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "results"
VENV = (ROOT / os.environ.get("BMCOURSE_VENV", ".venv")).resolve()
LOG_COPY = RESULTS / "browser_jupyterlab.log"

NB00 = "00_foundations.ipynb"
NB02 = "02_ner_finetuning.ipynb"
TAGGER_CALL = "widgets.tagger(tag_text, examples)"
MERMAID_START = "```mermaid"
# Checked against the smoke-trained tagger: it finds PER, LOC and ORG here.
SENTENCE = "Angela Merkel visited Paris with Siemens managers."

SERVER_START_S = 120
KERNEL_START_S = 600
RUN_UP_TO_WIDGET_S = 600  # the cells above the widget include a small training run
WIDGET_ROUND_TRIP_S = 60
MERMAID_S = 120
VIEWPORT = {"width": 1400, "height": 1000}

# What the lab's settings folder holds: all cells in the DOM (no windowing, so cells can be found
# by index), no autosave (the repository's notebooks stay as they are), no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


# --- helpers --------------------------------------------------------------------------------------

def chromium_path() -> str:
    """Debian's Chromium (``BMCOURSE_CHROMIUM`` overrides); fails with how to install it."""
    wanted = os.environ.get("BMCOURSE_CHROMIUM", "").strip()
    for candidate in ([wanted] if wanted else ["chromium", "chromium-browser"]):
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(f"no Chromium found ({wanted or 'chromium, chromium-browser'} not on PATH): install it with "
                "`apt-get install -y chromium` (Debian/Ubuntu), or point BMCOURSE_CHROMIUM at a Chromium binary; "
                "`bash tests/browser/run.sh` installs it when apt is available")


def sync_playwright():
    """``playwright.sync_api.sync_playwright``; fails with how to install it."""
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        pytest.fail(f"Playwright for Python is not installed in {sys.prefix}: "
                    "`pip install -c constraints.txt -e '.[browser]'` (or `bash tests/browser/run.sh`)")
    return start


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cell_index(notebook: str, needle: str, cell_type: str) -> int:
    """Index of the first ``cell_type`` cell of ``notebooks/<notebook>`` whose source contains ``needle``."""
    cells = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))["cells"]
    for i, cell in enumerate(cells):
        if cell["cell_type"] == cell_type and needle in "".join(cell["source"]):
            return i
    pytest.fail(f"no {cell_type} cell containing {needle!r} in notebooks/{notebook}")


def fingerprint(*names: str) -> dict[str, str]:
    """SHA-256 of the given files under ``notebooks/``."""
    return {name: hashlib.sha256((NOTEBOOKS / name).read_bytes()).hexdigest() for name in names}


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG (checks the file is one)."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG", f"{path} is not a PNG but {image.format}"
        image.verify()
    with Image.open(path) as image:
        return image.size


def colour_counts(path: Path) -> list[tuple[int, tuple[int, int, int]]]:
    """``(count, (r, g, b))`` for every colour of the image."""
    from PIL import Image

    with Image.open(path) as image:
        rgb_image = image.convert("RGB")
        return rgb_image.getcolors(maxcolors=rgb_image.width * rgb_image.height)


def count_colour_pixels(path: Path, colours: set[tuple[int, int, int]], tolerance: int = 6) -> int:
    """How many pixels of the image are within ``tolerance`` (per channel) of one of ``colours``."""
    return sum(count for count, pixel in colour_counts(path)
               if any(all(abs(a - b) <= tolerance for a, b in zip(pixel, colour)) for colour in colours))


def rgb(css: str) -> tuple[int, int, int]:
    """``rgb(1, 2, 3)`` or ``rgba(1, 2, 3, 1)`` as a tuple."""
    numbers = re.findall(r"[\d.]+", css)
    assert len(numbers) >= 3, f"not a CSS rgb colour: {css!r}"
    return int(float(numbers[0])), int(float(numbers[1])), int(float(numbers[2]))


def kill_tree(processes: list[psutil.Process], grace_s: float = 10) -> None:
    """SIGTERM the processes still alive, then SIGKILL those that did not exit within ``grace_s``."""
    alive = []
    for proc in processes:
        try:
            proc.terminate()
            alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    _, survivors = psutil.wait_procs(alive, timeout=grace_s)
    for proc in survivors:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(survivors, timeout=5)


def descendants(pid: int) -> list[psutil.Process]:
    """All processes below ``pid`` (empty when it is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


# --- JupyterLab -----------------------------------------------------------------------------------

@dataclass
class Lab:
    """A running JupyterLab server."""

    url: str
    token: str
    log: Path
    proc: subprocess.Popen
    versions: dict[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def save_log(self) -> Path:
        RESULTS.mkdir(exist_ok=True)
        if self.log.exists():
            shutil.copyfile(self.log, LOG_COPY)
        return LOG_COPY

    def open_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"

    def api(self, path: str) -> object:
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read().decode("utf-8"))


def stop_lab(proc: subprocess.Popen) -> None:
    """Stop the server (it shuts its kernels down on SIGTERM), then anything of its tree still alive.

    Kernels run in their own sessions (jupyter_client starts them so), so they are collected by
    process tree before the server goes, not by process group.
    """
    tree = descendants(proc.pid)
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
    kill_tree(tree, grace_s=5)


def _raise_keyboard_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """JupyterLab from the venv on 127.0.0.1:<free port> with a token, root notebooks/, smoke on CPU."""
    with running_lab(NOTEBOOKS) as server:
        yield server


@contextlib.contextmanager
def running_lab(root: Path) -> Iterator[Lab]:
    """JupyterLab from the venv on 127.0.0.1:<free port> with a token, root ``root`` (also its working
    folder, where nbgrader finds ``nbgrader_config.py``), smoke on CPU, offline; stopped on exit."""
    jupyter = VENV / "bin" / "jupyter"
    if not jupyter.exists():
        pytest.fail(f"no {jupyter}: set up the venv with `bash course.sh test` (or set BMCOURSE_VENV)")
    versions = {}
    probe = subprocess.run(
        [str(VENV / "bin" / "python"), "-c",
         "import jupyterlab, ipywidgets; print(jupyterlab.__version__, ipywidgets.__version__)"],
        capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.fail(f"JupyterLab or ipywidgets missing in {VENV}: {probe.stderr.strip()}")
    versions["jupyterlab"], versions["ipywidgets"] = probe.stdout.split()
    major_minor = tuple(int(part) for part in versions["jupyterlab"].split(".")[:2])
    assert major_minor >= (4, 1), f"JupyterLab {versions['jupyterlab']} draws no mermaid; 4.1 or newer is needed"

    scratch = Path(tempfile.mkdtemp(prefix="bmcourse-browser-"))
    for name, value in LAB_SETTINGS.items():
        path = scratch / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")
    token = secrets.token_hex(24)
    port = free_port()
    env = dict(os.environ)
    # The root conftest asks nbval for static widgets and real data may be configured: a learner's
    # lab has neither, so the kernel gets interactive widgets and the embedded samples.
    for name in ("BMCOURSE_STATIC_WIDGETS", "BMCOURSE_DATA_DIR", "BMCOURSE_REQUIRE_REAL_DATA"):
        env.pop(name, None)
    env.update({
        "BMCOURSE_PROFILE": "smoke", "BMCOURSE_DEVICE": "cpu", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1",
        "TOKENIZERS_PARALLELISM": "false", "JUPYTER_TOKEN": token,
        # Own config, data, runtime, settings and workspace folders: nothing of the user's lab
        # state leaks in, nothing of this run leaks out.
        "JUPYTER_CONFIG_DIR": str(scratch / "config"), "JUPYTER_DATA_DIR": str(scratch / "data"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"), "IPYTHONDIR": str(scratch / "ipython"),
        "JUPYTERLAB_SETTINGS_DIR": str(scratch / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "workspaces"),
        "PATH": f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    })
    log = scratch / "jupyterlab.log"
    command = [str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:  # CI and containers run as root
        command.append("--allow-root")
    checkpoints = root / ".ipynb_checkpoints"
    had_checkpoints = checkpoints.exists()
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    atexit.register(stop_lab, proc)  # a last resort if the fixture's finally never runs
    previous_handler = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # `timeout` etc.: clean up
    server = Lab(url=f"http://127.0.0.1:{port}", token=token, log=log, proc=proc, versions=versions)
    failed = True
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode} while starting:\n{server.log_tail()}")
            try:
                server.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on {server.url} within {SERVER_START_S} s:\n"
                                f"{server.log_tail()}")
                time.sleep(0.5)
        yield server
        failed = False
    finally:
        stop_lab(proc)
        atexit.unregister(stop_lab)
        signal.signal(signal.SIGTERM, previous_handler)
        if failed:
            server.save_log()
        if not had_checkpoints:  # JupyterLab makes one on opening a notebook; it was not there before
            shutil.rmtree(checkpoints, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(lab: Lab):
    """Headless Debian Chromium under Playwright; every process it started is gone afterwards."""
    executable = chromium_path()
    start = sync_playwright()
    lab_tree = {lab.proc.pid}
    ours: list[psutil.Process] = []
    playwright = start().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True,
            args=["--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--no-default-browser-check"])
        lab.versions["chromium"] = browser.version
        try:
            yield browser
        finally:
            lab_tree |= {p.pid for p in descendants(lab.proc.pid)}
            ours += [p for p in psutil.Process().children(recursive=True) if p.pid not in lab_tree]
            browser.close()
    finally:
        playwright.stop()
    kill_tree([p for p in ours if p.is_running()], grace_s=10)


@pytest.fixture
def page(browser, lab: Lab, request: pytest.FixtureRequest):
    """A fresh browser page; on a failure it is screenshotted and the lab's log copied to results/."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is None or report.failed:
            RESULTS.mkdir(exist_ok=True)
            try:
                page.screenshot(path=str(RESULTS / f"browser_failure_{request.node.name}.png"), full_page=False)
            except Exception as err:  # the page may be gone; the log matters more
                print(f"no failure screenshot: {err}")
            print(f"JupyterLab's log: {lab.save_log()}")
        context.close()


# --- driving JupyterLab ---------------------------------------------------------------------------

def open_notebook(page, lab: Lab, notebook: str):
    """Open ``notebook`` in JupyterLab; returns its panel once all its cells are in the page."""
    page.goto(lab.open_url(notebook), wait_until="domcontentloaded")
    panel = page.locator(".jp-NotebookPanel:visible")
    panel.wait_for(state="visible", timeout=120_000)
    cells = panel.locator(".jp-Notebook .jp-Cell")
    expected = len(json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))["cells"])
    deadline = time.monotonic() + 60
    while cells.count() != expected:
        assert time.monotonic() < deadline, (
            f"{notebook}: {cells.count()} cells in the page, {expected} in the file (windowing not off?)")
        time.sleep(0.5)
    return panel


def kernel_status(page) -> str:
    """The notebook's kernel status as the toolbar's execution indicator shows it ('' when absent)."""
    indicator = page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator")
    if indicator.count() == 0:
        return ""
    return indicator.first.get_attribute("data-status") or ""


def wait_kernel_idle(page, timeout_s: float) -> None:
    """Wait until the notebook's kernel is started and idle."""
    deadline = time.monotonic() + timeout_s
    status = ""
    while time.monotonic() < deadline:
        status = kernel_status(page)
        if status == "idle":
            return
        time.sleep(1)
    pytest.fail(f"the kernel was not idle within {timeout_s:.0f} s (last status {status!r})")


def click_menu(page, menu: str, label: str) -> None:
    """Click ``menu > label`` in JupyterLab's menu bar."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    labels = page.locator(".lm-Menu:visible .lm-Menu-item .lm-Menu-itemLabel")
    labels.first.wait_for(state="visible")
    names = [labels.nth(i).inner_text() for i in range(labels.count())]
    if names.count(label) != 1:
        pytest.fail(f"no single menu item {menu} > {label!r}; the menu has {names}")
    labels.nth(names.index(label)).click()


def error_outputs(panel) -> list[str]:
    """Texts of the error outputs (tracebacks) shown in the notebook."""
    errors = panel.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
    return [errors.nth(i).inner_text()[-2000:] for i in range(errors.count())]


def save_screenshot(target, name: str) -> Path:
    """Screenshot a page or an element to results/<name> and check it is a sensible PNG."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    target.screenshot(path=str(path))
    width, height = png_size(path)
    assert width >= 100 and height >= 50, f"{path} is only {width}x{height} pixels"
    return path


# --- the tests ------------------------------------------------------------------------------------

def test_mermaid_concept_map(page, lab: Lab) -> None:
    """Notebook 00's mermaid block is drawn as an SVG diagram in the rendered markdown."""
    before = fingerprint(NB00, NB00.replace(".ipynb", ".py"))
    index = cell_index(NB00, MERMAID_START, "markdown")
    panel = open_notebook(page, lab, NB00)
    cell = panel.locator(".jp-Notebook .jp-Cell").nth(index)
    assert "jp-MarkdownCell" in (cell.get_attribute("class") or ""), f"cell {index} of {NB00} is no markdown cell"
    # JupyterLab 4.x draws the diagram as an SVG and shows it as <img src="data:image/svg+xml,...">
    # inside .jp-RenderedMermaid (an inline <svg> is accepted too, should a version inline it).
    mermaid = cell.locator(".jp-RenderedMarkdown .jp-RenderedMermaid")
    drawn = mermaid.locator('img[src^="data:image/svg+xml"], svg')
    try:
        drawn.first.wait_for(state="visible", timeout=MERMAID_S * 1000)
    except Exception:
        rendered = cell.locator(".jp-RenderedMarkdown")
        html = rendered.first.inner_html()[:1500] if rendered.count() else "(no rendered markdown)"
        pytest.fail(f"no mermaid SVG (.jp-RenderedMermaid with an SVG <img> or <svg>) in cell {index} of {NB00} "
                    f"within {MERMAID_S} s; the rendered markdown starts:\n{html}")
    element = drawn.first
    if element.evaluate("e => e.tagName.toLowerCase()") == "img":
        natural = element.evaluate("e => [e.complete, e.naturalWidth, e.naturalHeight]")
        assert natural[0] and natural[1] > 100 and natural[2] > 50, (
            f"the browser did not draw the mermaid SVG image (complete, width, height = {natural})")
        svg_text = urllib.parse.unquote(element.get_attribute("src").split(",", 1)[1])
    else:
        svg_text = element.evaluate("e => e.outerHTML")
    assert "<svg" in svg_text, f"the mermaid image is no SVG: {svg_text[:300]!r}"
    text = re.sub(r"<[^>]+>", " ", svg_text)
    assert "Syntax error" not in text, "mermaid drew its syntax-error picture"
    for label in ("foundation model", "fine-tuning", "LoRA"):
        assert label in text, f"the mermaid SVG has no node {label!r}"
    nodes = len(re.findall(r'<g[^>]*class="node[ "]', svg_text))
    assert nodes >= 10, f"the mermaid SVG has {nodes} nodes (<g class=\"node ...\">), expected the course map's ~20"
    diagram = cell.locator(".jp-RenderedMermaid").first
    diagram.scroll_into_view_if_needed()
    path = save_screenshot(diagram, "browser_nb00_mermaid.png")
    colours = len(colour_counts(path))
    assert colours > 20, f"{path} has only {colours} distinct colours: is the diagram blank?"
    save_screenshot(page, "browser_nb00_page.png")
    print(f"mermaid: {nodes} nodes; {path}; versions {lab.versions}")
    assert fingerprint(NB00, NB00.replace(".ipynb", ".py")) == before, f"{NB00} or its .py pair changed on disk"


def test_ner_tagger_widget(page, lab: Lab) -> None:
    """Notebook 02 runs up to its tagger widget; a typed sentence comes back with coloured entity marks."""
    before = fingerprint(NB02, NB02.replace(".ipynb", ".py"))
    index = cell_index(NB02, TAGGER_CALL, "code")
    panel = open_notebook(page, lab, NB02)
    wait_kernel_idle(page, KERNEL_START_S)
    cell = panel.locator(".jp-Notebook .jp-Cell").nth(index)
    source = cell.locator(".jp-InputArea-editor").inner_text()
    assert TAGGER_CALL in source, f"cell {index} of {NB02} in the page is not the tagger cell:\n{source[:500]}"

    # The stored outputs go first (only in the page: nothing is saved), so every output and
    # prompt seen below comes from this run. Then select the widget cell (command mode), run
    # everything above it, then the cell itself.
    click_menu(page, "Edit", "Clear Outputs of All Cells")
    outputs = panel.locator(".jp-Notebook .jp-OutputArea-output")
    deadline = time.monotonic() + 30
    while outputs.count():
        assert time.monotonic() < deadline, f"{outputs.count()} outputs left after clearing all outputs"
        time.sleep(0.5)
    cell.locator(".jp-InputPrompt").click()
    assert "jp-mod-selected" in (cell.get_attribute("class") or ""), "clicking the prompt did not select the cell"
    started = time.monotonic()
    click_menu(page, "Run", "Run All Above Selected Cell")
    cell.locator(".jp-InputPrompt").click()
    click_menu(page, "Run", "Run Selected Cell and Do not Advance")

    widget = cell.locator(".jp-OutputArea-output .widget-vbox")
    deadline = started + RUN_UP_TO_WIDGET_S
    while widget.count() == 0:
        errors = error_outputs(panel)
        if errors:
            pytest.fail(f"a cell above the tagger failed:\n{errors[0]}")
        if kernel_status(page) in ("dead", "unknown"):
            pytest.fail(f"the kernel died while running {NB02} up to the tagger")
        if time.monotonic() > deadline:
            prompts = panel.locator(".jp-InputPrompt")
            running = [i for i in range(prompts.count()) if "[*]" in prompts.nth(i).inner_text()]
            pytest.fail(f"no tagger widget (.widget-vbox) in cell {index} after {RUN_UP_TO_WIDGET_S} s; "
                        f"cells still running or queued: {running}; kernel {kernel_status(page)!r}")
        time.sleep(2)
    run_s = time.monotonic() - started
    print(f"notebook 02 ran up to the tagger in {run_s:.0f} s")
    after = panel.locator(".jp-Notebook .jp-Cell").nth(index + 1)
    after_prompt = after.locator(".jp-InputPrompt").inner_text().strip()
    assert after.locator(".jp-OutputArea-output").count() == 0 and not re.search(r"\[[\d*]+\]", after_prompt), (
        f"the cell after the tagger ran too (prompt {after_prompt!r}); only the cells up to the widget should")

    box = widget.locator(".widget-textarea textarea")
    button = widget.locator("button.widget-button", has_text="Tag")
    out = widget.locator(".widget-html-content")
    for name, locator in (("text box (.widget-textarea textarea)", box), ("Tag button", button),
                          ("HTML output (.widget-html-content)", out)):
        assert locator.count() == 1, f"the tagger widget has {locator.count()} {name}, expected 1"
    box.fill(SENTENCE)
    button.click()
    deadline = time.monotonic() + WIDGET_ROUND_TRIP_S
    while "visited" not in out.inner_text():
        assert time.monotonic() < deadline, (
            f"the tagger output did not show the typed sentence within {WIDGET_ROUND_TRIP_S} s; "
            f"it shows: {out.inner_text()[:300]!r}")
        time.sleep(0.5)
    marks = out.locator("mark")
    found = [marks.nth(i).inner_text().replace("\n", " ") for i in range(marks.count())]
    print(f"entities found in {SENTENCE!r}: {found}")
    assert found, f"no highlighted entity (<mark>) in the tagger output for {SENTENCE!r}: {out.inner_html()[:500]}"
    colours = {rgb(marks.nth(i).evaluate("m => getComputedStyle(m).backgroundColor")) for i in range(marks.count())}
    assert all(colour != (0, 0, 0) for colour in colours), f"marks without a background colour: {colours}"

    widget.scroll_into_view_if_needed()
    path = save_screenshot(widget, "browser_nb02_tagger_widget.png")
    pixels = {colour: count_colour_pixels(path, {colour}) for colour in sorted(colours)}
    faint = {colour: n for colour, n in pixels.items() if n < 100}
    assert not faint, (f"{path}: fewer than 100 pixels of the entity colour(s) {faint} (all: {pixels}): "
                       "are the marks drawn?")
    print(f"pixels of each entity colour in {path}: {pixels}")
    save_screenshot(page, "browser_nb02_tagger.png")
    print(f"versions: {lab.versions}")
    assert fingerprint(NB02, NB02.replace(".ipynb", ".py")) == before, f"{NB02} or its .py pair changed on disk"


# --- grading: nbgrader's feedback page and its formgrader in JupyterLab ---------------------------

NB01 = NOTEBOOKS / "01_loss_and_gradients.ipynb"
GRADE_S = 300


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bmcourse assign`` for notebook 01, then ``bmcourse grade`` of two students (one answer wrong)."""
    import nbformat

    from bmcourse.course.cli import main
    from bmcourse.course.grading.assign import grade_id_of
    from bmcourse.course.grading.bench import fabricate

    root = tmp_path_factory.mktemp("grading")
    course = root / "course"
    assert main(["assign", str(NB01), "--out", str(course), "--course-id", "demo"]) == 0
    subs = fabricate(course, NB01.stem, ["ada", "grace"], root / "submissions")
    path = subs / "grace" / NB01.name
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id_of("01.2", "answer"):
            cell.source = "def bce_grad(z, y):\n    return torch.sigmoid(z) - y\n"  # forgot the mean's 1/N
    nbformat.write(nb, path)
    assert main(["grade", str(subs), "--course", str(course), "--out", str(root / "grades"), "--jobs", "2"]) == 0
    return root


def test_grading_feedback_page(browser, graded_course: Path) -> None:
    """nbgrader's feedback page for a student with one wrong answer shows the score and the failed test."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    try:
        feedback = graded_course / "grades" / "feedback" / "grace" / f"{NB01.stem}.html"
        page.goto(feedback.as_uri(), wait_until="load")
        text = page.inner_text("body")
        assert "Score" in text and "10" in text and "12" in text, text[:500]
        assert "01.2 bce_grad" in text or "AssertionError" in text, "the failed hidden test is not shown"
        save_screenshot(page, "browser_feedback.png")
    finally:
        page.context.close()


def test_formgrader_in_jupyterlab(browser, graded_course: Path) -> None:
    """JupyterLab started in the course folder opens nbgrader's formgrader, which lists the assignment."""
    with running_lab(graded_course / "course") as course_lab:
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(60_000)
        try:
            page.goto(f"{course_lab.url}/lab?token={course_lab.token}", wait_until="domcontentloaded")
            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Nbgrader$")).wait_for(state="visible",
                                                                                          timeout=120_000)
            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Nbgrader$")).click()
            page.locator(".lm-Menu:visible .lm-Menu-itemLabel", has_text="Formgrader").first.click()
            frame = page.frame_locator("iframe").first
            frame.locator(f"text={NB01.stem}").first.wait_for(state="visible", timeout=120_000)
            time.sleep(1)  # let the table finish drawing
            save_screenshot(page, "browser_formgrader.png")
        except Exception:
            RESULTS.mkdir(exist_ok=True)
            page.screenshot(path=str(RESULTS / "browser_failure_formgrader.png"))
            print(f"JupyterLab's log:\n{course_lab.log_tail()}")
            raise
        finally:
            page.context.close()
