"""Benchmark: the poll ledger embedded (DuckDB) against cluster mode (PostgreSQL), same run.

    .venv/bin/python benchmarks/cluster.py [--cameras 20000] [--polls 5] [--file-rows 1000]

Starts a throwaway PostgreSQL 15 (as tests do: Debian's postgresql-15, run as the ``postgres``
user), writes ``cameras × polls`` poll outcomes as spool files of ``file-rows`` lines (a poller's
batches), and measures, for the embedded DuckDB file and for PostgreSQL (day partitions and the
per-camera state table included):

* ingest: spool files into the ledger, rows per second (20,000 cameras every 30 s = 667 rows/s);
* the map's read: every camera's current state (embedded: aggregated from the ledger; cluster:
  one row per camera from ``camera_state``), median of 5.

Ratios are PostgreSQL against the embedded default measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lawangjabo.cameras.ledger import (  # noqa: E402
    cluster_health,
    current_health,
    forwarding_ingest,
    outcome_ingest,
)
from lawangjabo.storage.db import Database  # noqa: E402
from lawangjabo.storage.pg import PgDatabase  # noqa: E402
from tests.pg import throwaway_postgres  # noqa: E402


def write_spool(folder: Path, cameras: int, polls: int, file_rows: int, now: datetime) -> int:
    """``cameras × polls`` outcomes, a poll round every 30 s ending ``now``, as spool files."""
    rng = random.Random(7)
    folder.mkdir(parents=True)
    lines, written, files = [], 0, 0
    for round_ in range(polls):
        at = now - timedelta(seconds=30 * (polls - round_))
        for n in range(cameras):
            ok = rng.random() > 0.1
            lines.append(json.dumps({
                "camera_id": f"cam-{n:05d}", "polled_at": (at + timedelta(
                    milliseconds=n % 30_000)).isoformat(), "ok": ok,
                "error_kind": None if ok else "timeout", "latency_ms": rng.uniform(5, 60),
                "lane": "sweep", "dark": False, "low_detail": False, "frozen": False,
                "mean_luma": 90.0 if ok else None, "detail": 12.0 if ok else None,
                "dhash": rng.getrandbits(64) if ok else None,
                "picture_at": at.isoformat() if ok else None,
            }))  # fmt: skip
            if len(lines) == file_rows:
                files += 1
                (folder / f"bench-{files:06d}.jsonl").write_text("\n".join(lines) + "\n")
                written += len(lines)
                lines = []
    if lines:
        files += 1
        (folder / f"bench-{files:06d}.jsonl").write_text("\n".join(lines) + "\n")
        written += len(lines)
    return written


def median_ms(work: Callable[[], Any], runs: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=20_000)
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument("--file-rows", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, throwaway_postgres() as url:
        folder = Path(tmp)
        now = datetime.now(UTC)
        rows = write_spool(folder / "a", args.cameras, args.polls, args.file_rows, now)
        write_spool(folder / "b", args.cameras, args.polls, args.file_rows, now)
        print(f"{rows:,} outcomes of {args.cameras:,} cameras in files of {args.file_rows:,}")

        embedded = Database(folder / "bench.duckdb")
        started = time.perf_counter()
        moved = len(outcome_ingest(folder / "a").run(embedded))
        duck_s = time.perf_counter() - started
        cluster = PgDatabase(url, max_size=4)
        started = time.perf_counter()
        moved_pg = len(forwarding_ingest(folder / "b", "bench").run(cluster))
        pg_s = time.perf_counter() - started
        assert moved == moved_pg == rows, (moved, moved_pg, rows)

        duck_ms, duck_states = median_ms(lambda: current_health(embedded, now, 30, 600))
        pg_ms, pg_states = median_ms(lambda: cluster_health(cluster, now, 30, 600))
        assert {c: h.state for c, h in duck_states.items()} == {
            c: h.state for c, h in pg_states.items()
        }, "the two backends disagree on a camera's state"

        print(f"{'':36}{'embedded':>14}{'PostgreSQL':>14}{'PG/embedded':>14}")
        line = "{:36}{:>14}{:>14}{:>13.2f}x"
        print(line.format("ingest (rows/s, higher is better)", f"{rows / duck_s:,.0f}",
                          f"{rows / pg_s:,.0f}", (rows / pg_s) / (rows / duck_s)))  # fmt: skip
        print(line.format(f"states of {len(duck_states):,} cameras (ms)", f"{duck_ms:.1f}",
                          f"{pg_ms:.1f}", pg_ms / duck_ms))  # fmt: skip
        print("(667 rows/s = 20,000 cameras every 30 s; PostgreSQL ingest includes day "
              "partitions and the per-camera state upsert)")  # fmt: skip
        cluster.close()
        embedded.close()


if __name__ == "__main__":
    main()
