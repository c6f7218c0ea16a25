"""Server-side rerun time of every page, against a baseline measured in the same run.

    .venv/bin/python benchmarks/pages.py [--runs 7]

Each page runs in Streamlit's AppTest (the script as the server runs it, without a browser) on
the Palembang demo: a year of synthetic incidents and a few seconds of real polling of the
simulated cameras. Reported per page: the median of ``--runs`` reruns, ours against the
baseline, which is the same page with the city settings parsed again on every call (as the
app did before ``config.current_settings``). What a person waits for in the browser is
measured by the browser tests (``test-artifacts/operator-timings.json``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = (
    ("operations map (home)", None),
    ("brief", "pages/brief.py"),
    ("alerts", "pages/alerts.py"),
    ("camera wall", "pages/camera_wall.py"),
    ("camera health", "pages/health.py"),
    ("incidents", "pages/incidents.py"),
    ("analytics", "pages/analytics.py"),
    ("registry", "pages/registry.py"),
    ("audit log", "pages/audit.py"),
)


def _prepare(state: Path) -> None:
    """Demo data: the synthetic incident year and real poll outcomes of the simulator."""
    from lawangjabo.cameras.runtime import PollerRuntime
    from lawangjabo.config import current_settings
    from lawangjabo.server.services import close_all, get_services

    settings = current_settings()
    runtime = PollerRuntime(settings, get_services().snapshot().registry.cameras).start()
    time.sleep(8)
    runtime.stop()
    services = get_services()
    services.ingest()
    started = time.monotonic()
    services.incidents()  # seeds the demo year on first use
    print(f"demo data ready in {time.monotonic() - started:.1f} s (state in {state})")
    close_all()


def _page_times(page: str | None, runs: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "home.py"), default_timeout=120)
    app.run()
    if page:
        app.switch_page(page)
        app.run()
    assert not app.exception, [e.value for e in app.exception]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - started)
    return times


def _measure(runs: int, patch: Callable[[], Any] | None) -> dict[str, float]:
    from lawangjabo.server.services import close_all

    undo = patch() if patch else None
    try:
        result = {}
        for name, page in PAGES:
            result[name] = statistics.median(_page_times(page, runs))
            close_all()
        return result
    finally:
        if undo:
            undo()


def _parse_every_time() -> Callable[[], None]:
    """The baseline: settings read from the TOML file and the environment on every call."""
    from lawangjabo import config, services

    original = services.current_settings
    services.current_settings = config.load_settings  # type: ignore[assignment]

    def undo() -> None:
        services.current_settings = original

    return undo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="lj-pages-"))
    os.environ.update(
        {
            "LAWANGJABO_PATHS__STATE_DIR": str(state),
            "LAWANGJABO_AUTH__ENABLED": "false",  # AppTest has no HTTP layer to sign in through
            "LAWANGJABO_CAMERAS__POLLER": "off",  # measure the pages, not a poller beside them
            "LAWANGJABO_CAMERAS__SIMULATE": "true",
        }
    )
    _prepare(state)
    ours = _measure(args.runs, None)
    base = _measure(args.runs, _parse_every_time)
    print(f"\n{'page':<24}{'ours':>10}{'baseline':>11}{'ratio':>8}   (median of {args.runs})")
    for name, _page in PAGES:
        print(
            f"{name:<24}{ours[name] * 1000:>8.0f} ms{base[name] * 1000:>8.0f} ms"
            f"{base[name] / ours[name]:>7.1f}x"
        )


if __name__ == "__main__":
    main()
