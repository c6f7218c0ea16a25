"""Benchmark: incident analytics over 10 M synthetic incidents, against pandas/geopandas.

    .venv/bin/python benchmarks/incidents.py [--rows 10000000] [--coverage-rows 1000000]

Builds a DuckDB file of N synthetic Palembang incidents (derived columns computed as at ingest),
then times, each as the median of 5 runs, against a pandas/geopandas baseline in the same run:
the H3 heatmap for a 90-day × 3-category filter, the kecamatan choropleth, the hour × weekday
matrix, and coverage of 1 M incidents by 500 cameras' fields of view; plus the bytes one heatmap
view sends to the browser.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import geopandas as gpd
import numpy as np
import pandas as pd

from lawangjabo.cameras.synthetic import synthetic_cameras
from lawangjabo.config import load_settings
from lawangjabo.geo.districts import approximate_districts
from lawangjabo.geo.geometry import fov_wedge, to_metric
from lawangjabo.incidents.analytics import Filters, choropleth, heatmap, hour_weekday, points
from lawangjabo.incidents.coverage import coverage
from lawangjabo.incidents.history import generate
from lawangjabo.incidents.store import Enricher, IncidentStore
from lawangjabo.storage.db import Database
from lawangjabo.views.layers import build_deck, hex_layer

END = datetime(2026, 11, 27, tzinfo=UTC)
CATEGORIES = ("kecelakaan_lalu_lintas", "kebakaran", "kemacetan")


def timed(work: Callable[[], Any], runs: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def line(name: str, ours: float, base: float, target: str) -> None:
    print(
        f"{name:<34} {ours * 1000:9.1f} ms   pandas {base * 1000:9.1f} ms   "
        f"{base / ours:6.1f}x   target {target}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--coverage-rows", type=int, default=1_000_000)
    parser.add_argument("--cameras", type=int, default=500)
    args = parser.parse_args()
    settings = load_settings()
    districts = approximate_districts(settings.city)
    cameras = synthetic_cameras(settings, args.cameras, seed=3)
    per_year = len(generate(settings, END, 365, seed=1))
    scale = args.rows / per_year
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "bench.duckdb")
        store = IncidentStore(db, settings, Enricher(settings, districts, cameras))
        started = time.perf_counter()
        history = generate(settings, END, 365, seed=1, scale=scale)
        generated = time.perf_counter() - started
        store.bulk_load(history, "bench", chunk=2_000_000)
        loaded = time.perf_counter() - started
        size_mb = (Path(folder) / "bench.duckdb").stat().st_size / 1e6
        print(
            f"{len(history):,} incidents: generated in {generated:.1f} s, derived columns + "
            f"load {loaded - generated:.1f} s, file {size_mb:.0f} MB; {args.cameras} cameras"
        )

        frame = db.frame(
            "SELECT occurred_at, category, kecamatan, h3_r8, local_hour, local_dow, lon, lat "
            "FROM incidents"
        )
        filters = Filters(END - timedelta(days=90), END, categories=CATEGORIES)

        ours, cells = timed(lambda: heatmap(db, filters, 8))

        def pandas_heatmap() -> pd.Series:
            sel = frame[
                (frame.occurred_at >= filters.start)
                & (frame.occurred_at < filters.end)
                & frame.category.isin(CATEGORIES)
            ]
            return sel.groupby("h3_r8").size()

        base, ref = timed(pandas_heatmap)
        assert len(ref) == len(cells) and int(ref.sum()) == sum(c["count"] for c in cells)
        line("heatmap 90 d x 3 categories", ours, base, "<= 150 ms, >= 15x")

        everything = Filters(END - timedelta(days=366), END)
        areas = {d.name: d.area_km2 or 0.0 for d in settings.city.districts}
        ours, _ = timed(lambda: choropleth(db, everything, areas))

        def pandas_choropleth() -> pd.Series:
            sel = frame[(frame.occurred_at >= everything.start)]
            return sel.groupby("kecamatan").size()

        base, _ = timed(pandas_choropleth)
        line("kecamatan choropleth (+ previous)", ours, base, "<= 200 ms")

        ours, _ = timed(lambda: hour_weekday(db, everything))
        base, _ = timed(lambda: frame.groupby(["local_dow", "local_hour"]).size())
        line("hour x weekday", ours, base, "")

        cover_filter = Filters(END - timedelta(days=366), END)
        lon, lat = points(db, cover_filter, limit=args.coverage_rows)
        lon_a, lat_a = np.asarray(lon), np.asarray(lat)
        crs = settings.city.metric_crs
        ours, result = timed(lambda: coverage(lon_a, lat_a, cameras, crs, 100.0), runs=3)

        def geopandas_coverage() -> int:
            wedges = gpd.GeoDataFrame(
                geometry=[
                    to_metric(
                        fov_wedge(
                            c.lon, c.lat, c.props.heading_deg, c.props.fov_deg, c.props.range_m, crs
                        ),
                        crs,
                    )
                    for c in cameras
                ],
                crs=crs,
            )
            pts = gpd.GeoDataFrame(
                geometry=gpd.points_from_xy(lon_a, lat_a), crs="EPSG:4326"
            ).to_crs(crs)
            joined = gpd.sjoin(pts, wedges, predicate="within", how="inner")
            return int(joined.index.nunique())

        base, seen = timed(geopandas_coverage, runs=3)
        assert seen == result.in_view
        line(f"coverage {len(lon_a):,} x {args.cameras} cameras", ours, base, "<= 300 ms")

        # As the page sends it: build_deck's compact JSON, lean rows, translated titles.
        deck = build_deck([hex_layer(cells, title="{n} insiden")], (104.75, -2.98), settings.map)
        payload = len(deck.to_json().encode())
        raw = len(
            json.dumps(
                [
                    [round(x, 5), round(y, 5)]
                    for x, y in zip(frame.lon[:100_000], frame.lat[:100_000], strict=True)
                ]
            )
        )
        print(
            f"heatmap view payload: {payload / 1024:.0f} KB for {len(cells)} cells "
            f"(target <= 100 KB); raw points would be {raw / 1024 / 1024 * len(frame) / 1e5:.0f}"
            " MB"
        )
        db.close()


if __name__ == "__main__":
    main()
