"""One headless Chromium (Debian's, driven by Playwright) for the whole test session: the
end-to-end and the fault tests share it (Playwright's sync API allows one per thread)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lawangjabo.config import PROJECT_ROOT

CHROMIUM = os.environ.get("LAWANGJABO_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
# A browser timing is a figure for the benchmark's artifact; a test guards only against a gross
# regression: this many times its target (a fresh, busy 2-core machine must not fail the suite).
GROSS = 5


def gross(target: float) -> float:
    """The bound a test holds a timing to: ``GROSS`` times its target."""
    return GROSS * target


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
