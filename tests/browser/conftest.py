"""The browser test is collected only when asked for (``bash tests/browser/run.sh`` asks).

A plain ``pytest`` (testpaths ``tests`` and ``notebooks``) does not collect ``test_jupyterlab.py``
at all, so it neither runs nor shows as skipped there: it needs Chromium, Playwright and several
minutes. ``BMCOURSE_BROWSER_TEST=1`` collects it; then nothing in it skips: a missing browser or
package fails the test with the command that fixes it.
"""
from __future__ import annotations

import os

import pytest

if os.environ.get("BMCOURSE_BROWSER_TEST", "").strip() != "1":
    collect_ignore = ["test_jupyterlab.py", "test_site.py"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
