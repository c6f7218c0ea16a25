"""Benchmark: importing a large 112 call-center export — seconds and peak memory.

    .venv/bin/python benchmarks/import_incidents.py [--rows 300000] [--baseline-rows 5000]
    .venv/bin/python benchmarks/import_incidents.py --rows 1000000 --memory [--app]

Writes a semicolon-separated CSV as an Excel export of a 112 system looks (Indonesian headers,
decimal commas, ``dd/mm/yyyy HH.MM`` times, 112 category words).

Speed (default): imports it into an embedded DuckDB file in this process (reading and checking
every row, then writing: derived columns, one columnar insert per chunk, one 'created' event per
incident). The baseline, measured in the same run, is the row-by-row insert (chunks below the
columnar threshold) of ``--baseline-rows`` of the same rows, scaled to the whole file. Target
(issue 13): 300,000 rows in <= 60 s.

Memory (``--memory``, issue 22): the real CLI (``python -m lawangjabo import-incidents``) in a
child process on a fresh state folder; its peak RSS from the kernel (``wait4``), against the peak
of the same CLI importing a 1,000-row file in the same run (what the interpreter and libraries
take). With ``--app`` also the running app (``streamlit run app.py``): the file handed to it
by the CLI (its inbox) and the same file uploaded through the Incidents page in headless
Chromium; the app's RSS is sampled every 0.1 s, and what the import adds is its peak minus
its RSS before. Targets: CLI <= 500 MB peak; app: adds <= 500 MB.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lawangjabo.cameras.registry import load_registry  # noqa: E402
from lawangjabo.config import load_settings  # noqa: E402
from lawangjabo.geo.districts import approximate_districts  # noqa: E402
from lawangjabo.incidents.files import import_incidents, read_incidents  # noqa: E402
from lawangjabo.incidents.store import BULK_FROM, Enricher, IncidentStore  # noqa: E402
from lawangjabo.storage.db import Database  # noqa: E402

WORDS = ("Kebakaran rumah", "LAKALANTAS", "macet", "banjir", "pohon roboh", "medis")


def write_export(path: Path, rows: int, prefix: str = "112") -> None:
    rng = random.Random(3)
    with path.open("w", encoding="utf-8") as out:
        out.write("no_laporan;waktu;kategori;prioritas;lat;lon;keterangan;sumber\n")
        for n in range(rows):
            lat = f"{-2.99 + rng.uniform(-0.04, 0.04):.5f}".replace(".", ",")
            lon = f"{104.75 + rng.uniform(-0.05, 0.05):.5f}".replace(".", ",")
            day, hour, minute = rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)
            when = f"{day:02d}/10/2026 {hour:02d}.{minute:02d}"
            out.write(f"{prefix}-{n:07d};{when};{rng.choice(WORDS)};P{rng.randint(1, 3)};{lat};"
                      f"{lon};laporan warga;telepon\n")  # fmt: skip


def speed(args: argparse.Namespace, base: Path) -> None:
    settings = load_settings()
    districts = approximate_districts(settings.city)
    cameras = load_registry(ROOT / "cameras.geojson", settings, districts).cameras
    enricher = Enricher(settings, districts, cameras)
    export = base / "export-112.csv"
    write_export(export, args.rows)
    size_mb = export.stat().st_size / 1e6
    store = IncidentStore(Database(base / "ours.duckdb"), settings, enricher)
    started = time.perf_counter()
    checked = read_incidents(export, settings, store, keep_items=False)
    read_s = time.perf_counter() - started
    assert not checked.rejects, checked.rejects[:3]
    started = time.perf_counter()
    result = import_incidents(store, export, "bench")
    ours = time.perf_counter() - started
    assert result.written == store.count() == args.rows, result.rejects[:3]
    old = IncidentStore(Database(base / "baseline.duckdb"), settings, enricher)
    small = base / "sample.csv"
    write_export(small, args.baseline_rows)
    sample = read_incidents(small, settings).items
    started = time.perf_counter()
    for begin in range(0, len(sample), BULK_FROM):
        old.insert(sample[begin : begin + BULK_FROM], "bench")
    per_row_s = (time.perf_counter() - started) / len(sample)
    baseline = read_s + per_row_s * args.rows
    print(
        f"{args.rows:,} rows ({size_mb:.0f} MB, semicolons, decimal commas, 112 words): "
        f"checked alone {read_s:.1f} s; read, checked and written {ours:.1f} s "
        f"({args.rows / ours:,.0f} rows/s; target <= 60 s for 300,000)\n"
        f"baseline, row-by-row insert ({len(sample):,} rows measured, scaled): "
        f"{baseline:.0f} s -> {baseline / ours:.0f}x faster"
    )


def _cli(export: Path, state: Path) -> tuple[float, float, str]:
    """The real CLI importing ``export`` into ``state``: (seconds, peak RSS in MB, output)."""
    env = {**os.environ, "LAWANGJABO_PATHS__STATE_DIR": str(state)}
    log = state / "cli.log"
    state.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "lawangjabo", "import-incidents", str(export)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    text = log.read_text(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the CLI failed:\n{text[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, text.splitlines()[0]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """The peak RSS of a process, sampled every 0.1 s while in use."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb(self.pid))
            self._stop.wait(0.1)

    def __enter__(self) -> Sampler:
        self.before = _rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _settled_rss(pid: int, seconds: float = 20.0) -> float:
    """Wait until the app's RSS has held still (within 5 MB) for ``seconds`` (first start:
    demo history, caches; after an import: its checkpoint, the alert rules)."""
    last, still = _rss_mb(pid), 0
    deadline = time.monotonic() + seconds * 6
    while still < int(seconds) and time.monotonic() < deadline:
        time.sleep(1)
        now = _rss_mb(pid)
        still = still + 1 if abs(now - last) < 5 else 0
        last = now
    return last


def app_memory(export: Path, base: Path, rows: int) -> list[str]:
    """What importing ``export`` adds to the running app's memory: by the CLI's inbox, then
    by an upload on the Incidents page. Returns the lines to print."""
    from tests.e2e.conftest import Server, signed_in_page, start_server, stop

    state = base / "app-state"
    state.mkdir()
    process, server = start_server(state, state / "server.log", LAWANGJABO_CAMERAS__INTERVAL_S="5")
    lines = []
    try:
        _settled_rss(process.pid)
        with Sampler(process.pid) as sampled:
            seconds, _, said = _cli(export, state)
            _settled_rss(process.pid, 10)  # what the app does after (checkpoint, rules) counts
        lines.append(
            f"app, the CLI's file through its inbox: {seconds:.1f} s, app RSS {sampled.before:.0f}"
            f" MB before, peak {sampled.peak:.0f} MB: adds {sampled.peak - sampled.before:.0f} MB"
            f" (target <= 500); {said}"
        )
        upload = base / "upload-112.csv"
        write_export(upload, rows, prefix="UP")
        lines.append(_upload(server, Server, signed_in_page, process.pid, upload, rows))
    finally:
        stop(process)
    return lines


def _upload(server: object, server_type: object, page_of: object, pid: int, path: Path,
            rows: int) -> str:  # fmt: skip
    """Upload ``path`` on the Incidents page as the admin, preview, import; the app's RSS."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = page_of(browser, server)  # type: ignore[operator]
        page.goto(f"{server.url}/incidents")  # type: ignore[attr-defined]
        page.get_by_text("Import and export").first.wait_for(timeout=60_000)
        _settled_rss(pid, 5)
        with Sampler(pid) as sampled:
            started = time.perf_counter()
            page.get_by_text("Import and export").first.click()
            page.locator("input[type='file']").first.set_input_files(str(path))
            page.get_by_text(f"All {rows} rows can be imported.").wait_for(timeout=900_000)
            checked = time.perf_counter() - started
            page.get_by_role("button", name="Import all rows").click()
            page.get_by_text(f"{rows} incidents imported.").wait_for(timeout=900_000)
            seconds = time.perf_counter() - started
            _settled_rss(pid, 10)
        browser.close()
    return (
        f"app, uploaded on the Incidents page: preview after {checked:.1f} s, imported after "
        f"{seconds:.1f} s; app RSS {sampled.before:.0f} MB before, peak {sampled.peak:.0f} MB: "
        f"adds {sampled.peak - sampled.before:.0f} MB (target <= 500)"
    )


def memory(args: argparse.Namespace, base: Path) -> None:
    export = base / "export-112.csv"
    write_export(export, args.rows)
    size_mb = export.stat().st_size / 1e6
    tiny = base / "tiny-112.csv"
    write_export(tiny, 1_000, prefix="T")
    _, floor_mb, _ = _cli(tiny, base / "state-tiny")
    seconds, peak_mb, said = _cli(export, base / "state-cli")
    print(
        f"CLI, {args.rows:,} rows ({size_mb:.0f} MB): {seconds:.1f} s, peak RSS {peak_mb:.0f} MB "
        f"(target <= 500); the same CLI on 1,000 rows: {floor_mb:.0f} MB "
        f"(x{peak_mb / floor_mb:.1f}); {said}"
    )
    if args.app:
        for line in app_memory(export, base, args.rows):
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--baseline-rows", type=int, default=5_000)
    parser.add_argument("--memory", action="store_true", help="peak RSS of the CLI (and --app)")
    parser.add_argument("--app", action="store_true", help="with --memory: the running app too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        (memory if args.memory else speed)(args, Path(folder))


if __name__ == "__main__":
    main()
