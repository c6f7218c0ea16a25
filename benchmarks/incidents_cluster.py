"""Benchmark: incident analytics embedded (one DuckDB file) against cluster mode, same run.

    .venv/bin/python benchmarks/incidents_cluster.py [--rows 10000000] [--runs 20]

Starts a throwaway PostgreSQL 15 (as the tests do) and loads the same N synthetic Palembang
incidents twice: into an embedded DuckDB file, and into PostgreSQL (the cluster's system of
record). A replica's DuckDB copy is then pulled from PostgreSQL (ADBC → Arrow), and, over the
same filters, the heatmap (90 days × 3 categories) and the kecamatan choropleth are timed
(p50/p95 of ``--runs``) on the embedded file and on the replica's copy, with the same
aggregation run inside PostgreSQL shown beside them (what a replica would pay without a copy).
Freshness: a second replica pulls in the background as the app does (every second); the time
from one replica logging an incident to the other's analytics counting it is measured 10 times.

Targets (issue 12): heatmap and choropleth p95 <= 150 ms on 10 M incidents in cluster mode; a
new incident in analytics within 10 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lawangjabo.cameras.synthetic import synthetic_cameras  # noqa: E402
from lawangjabo.config import load_settings  # noqa: E402
from lawangjabo.geo.districts import approximate_districts  # noqa: E402
from lawangjabo.incidents.analytics import Filters, choropleth, heatmap, total  # noqa: E402
from lawangjabo.incidents.history import generate  # noqa: E402
from lawangjabo.incidents.mirror import IncidentMirror  # noqa: E402
from lawangjabo.incidents.store import Enricher, IncidentStore, NewIncident  # noqa: E402
from lawangjabo.storage.db import Database  # noqa: E402
from lawangjabo.storage.pg import PgDatabase  # noqa: E402
from tests.pg import throwaway_postgres  # noqa: E402

END = datetime(2026, 11, 27, tzinfo=UTC)
CATEGORIES = ("kecelakaan_lalu_lintas", "kebakaran", "kemacetan")


def percentiles(work: Callable[[], Any], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def row(name: str, embedded: tuple[float, float], cluster: tuple[float, float], pg: float) -> None:
    print(
        f"{name:<30} embedded p50 {embedded[0] * 1e3:7.1f} p95 {embedded[1] * 1e3:7.1f} ms | "
        f"cluster copy p50 {cluster[0] * 1e3:7.1f} p95 {cluster[1] * 1e3:7.1f} ms "
        f"({cluster[1] / embedded[1]:4.2f}x embedded) | in PostgreSQL {pg * 1e3:8.1f} ms "
        f"({pg / cluster[1]:5.1f}x the copy)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cameras", type=int, default=500)
    args = parser.parse_args()
    settings = load_settings()
    districts = approximate_districts(settings.city)
    cameras = synthetic_cameras(settings, args.cameras, seed=3)
    enricher = Enricher(settings, districts, cameras)
    scale = args.rows / len(generate(settings, END, 365, seed=1))
    history = generate(settings, END, 365, seed=1, scale=scale)
    with tempfile.TemporaryDirectory() as folder, throwaway_postgres() as url:
        base = Path(folder)
        embedded = IncidentStore(Database(base / "embedded.duckdb"), settings, enricher)
        started = time.perf_counter()
        embedded.bulk_load(history, "bench", chunk=2_000_000)
        t_embedded = time.perf_counter() - started
        shared = PgDatabase(url)
        writer = IncidentStore(Database(base / "unused.duckdb"), settings, enricher, shared)
        started = time.perf_counter()
        writer.bulk_load(history, "bench", chunk=2_000_000)
        t_pg = time.perf_counter() - started
        shared.execute("VACUUM ANALYZE incidents")
        print(
            f"{len(history):,} incidents loaded: embedded {t_embedded:.1f} s; "
            f"PostgreSQL {t_pg:.1f} s ({len(history) / t_pg:,.0f} rows/s, derived columns, "
            "COPY and the event log included)"
        )
        copy_a = IncidentMirror(url, Database(base / "replica-a.duckdb"))
        started = time.perf_counter()
        pulled = copy_a.sync()
        t_copy = time.perf_counter() - started
        print(
            f"replica's first copy: {pulled:,} rows in {t_copy:.1f} s "
            f"({(pulled or 0) / t_copy:,.0f} rows/s, ADBC -> Arrow -> DuckDB)"
        )
        started = time.perf_counter()
        nothing = copy_a.sync()
        print(f"a pull with nothing new: {(time.perf_counter() - started) * 1e3:.1f} ms "
              f"({nothing} rows)")  # fmt: skip

        filters = Filters(END - timedelta(days=90), END, categories=CATEGORIES)
        everything = Filters(END - timedelta(days=366), END)
        areas = {d.name: d.area_km2 or 0.0 for d in settings.city.districts}
        local, copy = embedded.db, copy_a.local

        def cells(db: Any) -> list[tuple[str, int]]:
            return sorted((c["hex"], c["count"]) for c in heatmap(db, filters, 8))

        assert cells(local) == cells(copy)  # the same answer
        codes = ", ".join(
            str(r[0])
            for r in shared.execute(
                "SELECT code FROM incident_category_codes WHERE category = ANY(?)",
                [list(CATEGORIES)],
            )
        )
        started = time.perf_counter()
        shared.execute(
            "SELECT h3_r8, count(*) FROM incidents WHERE occurred_at >= ? AND occurred_at < ? "
            f"AND category_code IN ({codes}) GROUP BY h3_r8",
            [filters.start, filters.end],
        )
        pg_heat = time.perf_counter() - started
        started = time.perf_counter()
        shared.execute(
            "SELECT kecamatan, count(*) FROM incidents WHERE occurred_at >= ? "
            "AND occurred_at < ? GROUP BY kecamatan",
            [everything.start, everything.end],
        )
        pg_choro = time.perf_counter() - started
        runs = args.runs
        row("heatmap 90 d x 3 categories",
            percentiles(lambda: heatmap(local, filters, 8), runs),
            percentiles(lambda: heatmap(copy, filters, 8), runs), pg_heat)  # fmt: skip
        row("kecamatan choropleth (+prev)",
            percentiles(lambda: choropleth(local, everything, areas), runs),
            percentiles(lambda: choropleth(copy, everything, areas), runs), pg_choro)  # fmt: skip

        # Freshness: replica B pulls in the background as the app does; A logs incidents.
        copy_b = IncidentMirror(url, Database(base / "replica-b.duckdb"))
        copy_b.sync()
        reader = IncidentStore(copy_b.local, settings, enricher, shared, copy_b)
        logger = IncidentStore(copy_a.local, settings, enricher, shared, copy_a)
        stop = threading.Event()

        def background() -> None:
            while not stop.is_set():
                copy_b.sync_if_older(1.0)
                stop.wait(0.25)

        puller = threading.Thread(target=background, daemon=True)
        puller.start()
        waits = []
        recent = Filters(END + timedelta(days=1), END + timedelta(days=2))
        for n in range(10):
            before = total(reader.db, recent)
            logger.create(
                NewIncident(END + timedelta(days=1, minutes=n), "kebakaran", "P1",
                            -2.98819, 104.76045), "bench")  # fmt: skip
            logged = time.perf_counter()
            while total(reader.db, recent) == before:
                time.sleep(0.02)
            waits.append(time.perf_counter() - logged)
            time.sleep(0.37 * (n % 3))  # not in step with the pull's second
        stop.set()
        puller.join(5)
        print(
            f"logged on replica A -> in replica B's analytics: p50 "
            f"{statistics.median(waits):.2f} s, max {max(waits):.2f} s over {len(waits)} "
            "(target <= 10 s)"
        )
        size = sum((base / f"replica-{r}.duckdb").stat().st_size for r in "a") / 1e6
        print(f"a replica's copy file: {size:,.0f} MB")
        for mirror in (copy_a, copy_b):
            mirror.close()
        shared.close()


if __name__ == "__main__":
    main()
