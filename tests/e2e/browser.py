"""Playwright helpers in the manner of Streamlit's own e2e tests: wait for idle, then assert."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.e2e.stack import CHROMIUM, CHROMIUM_ARGS, ROOT

ARTIFACTS = ROOT / "test-artifacts" / "e2e"


def require_browser() -> None:
    """Skip without Playwright or Chromium; on CI their absence is a failure."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "playwright is not installed"
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run on CI: {problem}")
        pytest.skip(problem)


def launch(playwright):  # type: ignore[no-untyped-def]
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def wait_idle(page, timeout: float = 30_000) -> None:  # type: ignore[no-untyped-def]
    """Connected, and the script run finished (Streamlit marks it on the app root).

    Waits a moment first, as Streamlit's own `wait_for_app_run` does: right after a click the
    root still says `notRunning` from the previous run until the rerun request is answered."""
    page.wait_for_timeout(100)
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=timeout
    )
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout
    )
    page.wait_for_timeout(150)  # let the last delta render


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(ARTIFACTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"), full_page=True
    )
