"""Benchmark: importing a large 112 call-center export, against the row-by-row insert it replaced.

    .venv/bin/python benchmarks/import_incidents.py [--rows 300000] [--baseline-rows 5000]

Writes a semicolon-separated CSV as an Excel export of a 112 system looks (Indonesian headers,
decimal commas, ``dd/mm/yyyy HH.MM`` times, 112 category words) and imports it into an embedded
DuckDB file: reading and checking every row, then writing (derived columns, one columnar insert,
one 'created' event per incident). The baseline, measured in the same run, is the row-by-row
insert (chunks below the columnar threshold) of ``--baseline-rows`` of the same rows, scaled to
the whole file. Target (issue 13): 300,000 rows in <= 60 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lawangjabo.cameras.registry import load_registry  # noqa: E402
from lawangjabo.config import load_settings  # noqa: E402
from lawangjabo.geo.districts import approximate_districts  # noqa: E402
from lawangjabo.incidents.files import read_incidents  # noqa: E402
from lawangjabo.incidents.store import BULK_FROM, Enricher, IncidentStore  # noqa: E402
from lawangjabo.storage.db import Database  # noqa: E402

WORDS = ("Kebakaran rumah", "LAKALANTAS", "macet", "banjir", "pohon roboh", "medis")


def write_export(path: Path, rows: int) -> None:
    rng = random.Random(3)
    with path.open("w", encoding="utf-8") as out:
        out.write("no_laporan;waktu;kategori;prioritas;lat;lon;keterangan;sumber\n")
        for n in range(rows):
            lat = f"{-2.99 + rng.uniform(-0.04, 0.04):.5f}".replace(".", ",")
            lon = f"{104.75 + rng.uniform(-0.05, 0.05):.5f}".replace(".", ",")
            day, hour, minute = rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)
            when = f"{day:02d}/10/2026 {hour:02d}.{minute:02d}"
            out.write(f"112-{n:07d};{when};{rng.choice(WORDS)};P{rng.randint(1, 3)};{lat};{lon};"
                      "laporan warga;telepon\n")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--baseline-rows", type=int, default=5_000)
    args = parser.parse_args()
    settings = load_settings()
    districts = approximate_districts(settings.city)
    cameras = load_registry(ROOT / "cameras.geojson", settings, districts).cameras
    enricher = Enricher(settings, districts, cameras)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        export = base / "export-112.csv"
        write_export(export, args.rows)
        size_mb = export.stat().st_size / 1e6
        store = IncidentStore(Database(base / "ours.duckdb"), settings, enricher)
        started = time.perf_counter()
        checked = read_incidents(export, settings, store)
        read_s = time.perf_counter() - started
        assert not checked.rejects, checked.rejects[:3]
        store.insert(checked.items, "bench")
        ours = time.perf_counter() - started
        assert store.count() == args.rows
        old = IncidentStore(Database(base / "baseline.duckdb"), settings, enricher)
        sample = checked.items[: args.baseline_rows]
        started = time.perf_counter()
        for begin in range(0, len(sample), BULK_FROM):
            old.insert(sample[begin : begin + BULK_FROM], "bench")
        per_row_s = (time.perf_counter() - started) / len(sample)
        baseline = read_s + per_row_s * args.rows
        print(
            f"{args.rows:,} rows ({size_mb:.0f} MB, semicolons, decimal commas, 112 words): "
            f"read and checked {read_s:.1f} s, written {ours - read_s:.1f} s, total {ours:.1f} s "
            f"({args.rows / ours:,.0f} rows/s; target <= 60 s)\n"
            f"baseline, row-by-row insert ({len(sample):,} rows measured, scaled): "
            f"{baseline:.0f} s -> {baseline / ours:.0f}x faster"
        )


if __name__ == "__main__":
    main()
