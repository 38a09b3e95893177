#!/usr/bin/env bash
# The browser test of JupyterLab and the course widgets (tests/browser/test_jupyterlab.py):
#   bash tests/browser/run.sh [pytest args...]
# 1. Debian's Chromium: used when on PATH (or BMCOURSE_CHROMIUM); else installed with apt-get
#    when apt is there (as root, or with sudo), else a clear failure saying how to install it.
#    A CJK font (fonts-wqy-microhei) is added the same way when none is installed, so the
#    Chinese glossary labels of the mermaid map show in the screenshots (not required).
# 2. Playwright for Python into the venv (${BMCOURSE_VENV:-.venv}, set up by course.sh), pinned by
#    constraints.txt (the `browser` extra). Playwright's own browser download is never used.
# 3. pytest on tests/browser with BMCOURSE_BROWSER_TEST=1: JupyterLab on 127.0.0.1, notebook 00's
#    mermaid map drawn as SVG, notebook 02 run up to its tagger widget (a small training run, about
#    a minute on 2 CPU cores) and the widget tagging a typed sentence; then notebook 01 assigned and
#    graded (bmcourse assign / grade), nbgrader's feedback page and its formgrader in JupyterLab.
#    Then the course website (tests/browser/test_site.py): built offline, served on loopback with every
#    request to another host blocked; pages load without errors, math and the mermaid map render, the
#    language switch, search and a phone-width page work.
#    Screenshots (and, on a failure, JupyterLab's log) go to results/. The run must pass all eleven
#    tests (four of JupyterLab, seven of the site): a skip, a missing test or no test at all fails it.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${BMCOURSE_VENV:-.venv}"
PY="$VENV/bin/python"
say() { echo "tests/browser/run.sh: $*"; }

test -x "$PY" || { say "no $PY: set up the venv first (bash course.sh test), or set BMCOURSE_VENV" >&2; exit 1; }

apt_install() {  # apt_install PACKAGE...: 0 when installed, 1 when apt is not usable here
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else return 1; fi
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  local start=$SECONDS
  say "installing $* with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@" >/dev/null
  say "apt-get install $* took $((SECONDS - start)) s"
}

if [ -n "${BMCOURSE_CHROMIUM:-}" ]; then
  test -x "$BMCOURSE_CHROMIUM" || { say "BMCOURSE_CHROMIUM=$BMCOURSE_CHROMIUM is not an executable" >&2; exit 1; }
elif ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if ! apt_install chromium; then
    say "no Chromium, and apt-get is not usable here: install it (Debian/Ubuntu: sudo apt-get install -y chromium)" \
        "or set BMCOURSE_CHROMIUM to a Chromium/Chrome binary" >&2
    exit 1
  fi
fi
if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
  apt_install fonts-wqy-microhei || say "no CJK font: the map's Chinese labels show as boxes (the test still runs)"
fi
chromium_bin="${BMCOURSE_CHROMIUM:-$(command -v chromium || command -v chromium-browser)}"
say "browser: $("$chromium_bin" --version 2>/dev/null | head -n1)"

if ! "$PY" -c "import playwright.sync_api" >/dev/null 2>&1; then
  say "installing Playwright for Python into $VENV (constraints.txt)"
  "$PY" -m pip install --quiet -c constraints.txt playwright  # = the `browser` extra of pyproject.toml
fi
say "playwright $("$PY" -c 'from importlib.metadata import version; print(version("playwright"))')"

mkdir -p results
report="$(mktemp -d)/junit.xml"
set +e
BMCOURSE_BROWSER_TEST=1 BMCOURSE_VENV="$VENV" "$PY" -m pytest tests/browser -p no:cacheprovider -rA \
  --junitxml="$report" "$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  say "pytest failed (exit $status); screenshots and JupyterLab's log are in results/" >&2
  exit "$status"
fi
# All eleven tests must have run and passed: a skip or a deselection never passes silently.
"$PY" - "$report" <<'EOF'
import sys
import xml.etree.ElementTree as ET

suite = ET.parse(sys.argv[1]).getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
if counts["tests"] < 11 or counts["failures"] or counts["errors"] or counts["skipped"]:
    sys.exit(f"tests/browser/run.sh: expected 11 browser tests to run and pass, got {counts}")
EOF
say "passed; screenshots in results/"
