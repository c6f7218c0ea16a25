"""Incidents: migrations, derived columns, lifecycle and event log, synthetic history,
aggregation equal to a pandas reference, coverage on hand-built cases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from lawangjabo.cameras.registry import load_registry
from lawangjabo.config import PROJECT_ROOT, Settings
from lawangjabo.geo.districts import approximate_districts
from lawangjabo.incidents.analytics import (
    Filters,
    by_district,
    daily,
    heatmap,
    hotspots,
    hour_weekday,
    total,
)
from lawangjabo.incidents.coverage import coverage, greedy_sites
from lawangjabo.incidents.history import generate
from lawangjabo.incidents.store import (
    TRANSITIONS,
    Enricher,
    IncidentError,
    IncidentStore,
    NewIncident,
    h3_parent,
)
from lawangjabo.storage.db import MIGRATIONS, Database

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["duckdb", "postgresql"])
def both(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[Any]:
    """The same store on each backend: the embedded DuckDB file, or PostgreSQL as the system
    of record read through this replica's DuckDB copy (cluster mode)."""
    if request.param == "duckdb":
        yield request.getfixturevalue("store")
        return
    from lawangjabo.incidents.mirror import IncidentMirror
    from lawangjabo.storage.pg import PgDatabase

    url = request.getfixturevalue("pg_url")
    shared = PgDatabase(url)
    shared.execute(
        "TRUNCATE incidents, incident_events, incident_category_codes RESTART IDENTITY"
    )  # one cluster for the session
    districts = approximate_districts(settings.city)
    cameras = load_registry(PROJECT_ROOT / "cameras.geojson", settings, districts).cameras
    mirror = IncidentMirror(url, Database(tmp_path / "copy.duckdb"))
    yield IncidentStore(
        mirror.local, settings, Enricher(settings, districts, cameras), shared, mirror
    )
    mirror.close()
    mirror.local.close()
    shared.close()


def test_migrates_from_the_previous_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    old = Database(path, MIGRATIONS[:2])
    old.execute(
        "INSERT INTO poll_outcomes (camera_id, polled_at, ok, lane) VALUES "
        "('cam', now(), true, 'sweep')"
    )
    old.close()
    db = Database(path)
    assert db.schema_version() == MIGRATIONS[-1].version
    assert db.execute("SELECT count(*) FROM poll_outcomes") == [(1,)]  # data kept
    assert db.execute("SELECT count(*) FROM incidents") == [(0,)]
    db.close()


def test_category_codes_are_filled_in_when_an_older_file_migrates(
    store: IncidentStore, settings: Settings
) -> None:
    """Version 7 gives every stored category a small-integer code (analytics filter on it);
    rows stored before it get theirs, and the category filter finds the same incidents."""
    old, path = store.db, store.db.path
    store.bulk_load(generate(settings, NOW, 30, seed=2), "demo")
    for undo in (  # back to a version-6 file: incidents without codes
        "ALTER TABLE incidents DROP COLUMN category_code",
        "DROP TABLE incident_category_codes",
        "DROP TABLE incident_category_words",
        "ALTER TABLE incidents DROP COLUMN kelurahan",
        "DROP TABLE maintenance",
        "DROP SEQUENCE maintenance_ids",
        "ALTER TABLE poll_outcomes DROP COLUMN tamper",
        "DELETE FROM schema_migrations WHERE version >= 7",
    ):
        old.execute(undo)
    by_text = old.execute("SELECT category, count(*) FROM incidents GROUP BY ALL ORDER BY 1")
    old.close()
    db = Database(path)
    codes = db.execute("SELECT category, code FROM incident_category_codes ORDER BY code")
    assert [c for c, _ in codes] == sorted(c for c, _ in by_text)
    assert [n for _, n in codes] == list(range(1, len(codes) + 1))
    assert db.execute("SELECT count(*) FROM incidents WHERE category_code IS NULL") == [(0,)]
    for category, n in by_text:
        assert total(db, Filters(NOW - timedelta(days=60), NOW, (category,))) == n
    db.close()


def test_a_new_category_gets_the_next_code_and_an_unstored_one_matches_nothing(
    store: IncidentStore,
) -> None:
    store.create(NewIncident(NOW, "kebakaran", "P1", -2.98819, 104.76045), "op")
    store.create(NewIncident(NOW, "banjir_genangan", "P2", -2.98819, 104.76045), "op")
    store.create(NewIncident(NOW, "kebakaran", "P3", -2.98819, 104.76045), "op")
    assert store.db.execute("SELECT category, code FROM incident_category_codes ORDER BY code") == [
        ("kebakaran", 1),
        ("banjir_genangan", 2),
    ]
    window = (NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert total(store.db, Filters(*window, ("kebakaran",))) == 2
    assert total(store.db, Filters(*window, ("kebakaran", "banjir_genangan"))) == 3
    assert total(store.db, Filters(*window, ("kemacetan",))) == 0
    assert len(store.listing(Filters(*window, ("banjir_genangan",)), ["id"])) == 1


def test_create_derives_columns_and_proposes_the_lead_agency(both: IncidentStore) -> None:
    new_id = both.create(NewIncident(NOW, "kebakaran", "P1", -2.98819, 104.76045), "op")
    row = both.get(new_id)
    assert row is not None
    assert row["lead_agency"] == "damkar" and row["status"] == "new"
    assert row["kecamatan"] == "Bukit Kecil"
    assert row["nearest_camera"] == "plg-cam9-masjid-agung" and row["camera_distance_m"] < 1
    assert row["h3_r9"] == h3.str_to_int(h3.latlng_to_cell(-2.98819, 104.76045, 9))
    assert row["local_hour"] == 19 and row["local_dow"] == 4  # 12:00 UTC = 19:00 WIB, Friday


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (NewIncident(NOW, "alien", "P1", -2.98, 104.76), "unknown category"),
        (NewIncident(NOW, "kebakaran", "P0", -2.98, 104.76), "priority"),
        (NewIncident(NOW, "kebakaran", "P1", -6.2, 106.8), "outside the city"),
        (NewIncident(NOW.replace(tzinfo=None), "kebakaran", "P1", -2.98, 104.76), "time zone"),
    ],
)
def test_bad_incidents_are_refused(both: IncidentStore, item: NewIncident, message: str) -> None:
    with pytest.raises(IncidentError, match=message):
        both.create(item, "op")
    assert both.count() == 0


def test_lifecycle_rules_and_a_complete_event_log(both: IncidentStore) -> None:
    new_id = both.create(NewIncident(NOW, "kecelakaan_lalu_lintas", "P2", -2.976, 104.754), "a")
    both.transition(new_id, "dispatched", "b")
    both.assign(new_id, "psc119", "b", "ambulance needed")
    both.transition(new_id, "on_scene", "c")
    both.transition(new_id, "resolved", "c")
    with pytest.raises(IncidentError, match="cannot go from resolved to new"):
        both.transition(new_id, "new", "c")
    both.note(new_id, "road cleared", "c")
    both.transition(new_id, "closed", "d")
    with pytest.raises(IncidentError):
        both.transition(new_id, "dispatched", "d")
    events = both.events(new_id)
    assert [(e["kind"], e["to_status"]) for e in events] == [
        ("created", "new"),
        ("status", "dispatched"),
        ("assigned", None),
        ("status", "on_scene"),
        ("status", "resolved"),
        ("note", None),
        ("status", "closed"),
    ]
    assert [e["actor"] for e in events] == ["a", "b", "b", "c", "c", "c", "d"]
    row = both.get(new_id)
    assert row is not None and row["status"] == "closed" and row["lead_agency"] == "psc119"


def test_every_status_can_reach_closed() -> None:
    for status in TRANSITIONS:
        seen, todo = {status}, [status]
        while todo:
            for nxt in TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert "closed" in seen, status


def test_h3_parent_matches_the_library() -> None:
    rng = np.random.default_rng(3)
    cells = np.array(
        [
            h3.str_to_int(h3.latlng_to_cell(la, lo, 9))
            for la, lo in zip(
                rng.uniform(-3.09, -2.87, 300), rng.uniform(104.61, 104.86, 300), strict=True
            )
        ],
        dtype=np.uint64,
    )
    for res in (7, 8):
        expected = [h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), res)) for c in cells]
        assert h3_parent(cells, res).tolist() == expected


def test_synthetic_year_matches_palembang_rates(settings: Settings) -> None:
    history = generate(settings, NOW, 365, seed=11)
    per_day = pd.Series(history.category).value_counts() / 365
    assert per_day["kebakaran"] == pytest.approx(0.75, rel=0.15)
    assert per_day["kecelakaan_lalu_lintas"] == pytest.approx(2.5, rel=0.15)
    months = pd.to_datetime(history.occurred_at, unit="s").month
    floods = months[history.category == "banjir_genangan"]
    rainy = np.isin(np.asarray(floods), [11, 12, 1, 2, 3])
    assert len(floods) > 50 and rainy.mean() > 0.9  # bursts on rain days, Nov–Mar
    hours = (pd.to_datetime(history.occurred_at, unit="s") + pd.Timedelta(hours=7)).hour
    jams = pd.Series(hours[history.category == "kemacetan"]).value_counts()
    assert jams[[7, 8, 17]].min() > jams[[1, 2, 3]].max()  # peak hours, not the night
    assert (history.occurred_at <= NOW.timestamp()).all()
    again = generate(settings, NOW, 365, seed=11)
    assert (again.lat == history.lat).all()  # seeded


def test_aggregations_equal_a_pandas_reference(both: IncidentStore, settings: Settings) -> None:
    both.bulk_load(generate(settings, NOW, 200, seed=5), "demo")
    frame = pd.DataFrame(
        both.db.execute(
            "SELECT occurred_at, category, priority, kecamatan, h3_r8, h3_r9, local_hour, "
            "local_dow "
            "FROM incidents"
        ),
        columns=[
            "occurred_at",
            "category",
            "priority",
            "kecamatan",
            "h3_r8",
            "h3_r9",
            "local_hour",
            "local_dow",
        ],
    )
    filters = Filters(
        NOW - timedelta(days=90),
        NOW,
        categories=("kecelakaan_lalu_lintas", "kebakaran", "kemacetan"),
        priorities=("P1", "P2"),
    )
    ref = frame[
        (frame.occurred_at >= filters.start)
        & (frame.occurred_at < filters.end)
        & frame.category.isin(filters.categories)
        & frame.priority.isin(("P1", "P2"))
    ]
    assert total(both.db, filters) == len(ref) > 100
    cells = {c["hex"]: c["count"] for c in heatmap(both.db, filters, 8)}
    expected = ref.groupby("h3_r8").size()
    assert cells == {format(int(k), "x"): int(v) for k, v in expected.items()}
    assert by_district(both.db, filters) == ref.groupby("kecamatan").size().to_dict()
    matrix = hour_weekday(both.db, filters)
    for (dow, hour), n in ref.groupby(["local_dow", "local_hour"]).size().items():
        assert matrix[int(dow)][int(hour)] == n
    wib_days = (ref.occurred_at.dt.tz_convert("Asia/Jakarta").dt.date).value_counts()
    assert {d["day"]: d["count"] for d in daily(both.db, filters, "Asia/Jakarta")} == dict(
        wib_days.items()
    )  # a WIB day, not a UTC one: 17:00 UTC is the next day's 00:00 WIB
    top = hotspots(both.db, filters, 1)[0]
    assert top["count"] == ref.groupby("h3_r9").size().max()
    playback = Filters(filters.start, filters.end, filters.categories, hours=(8,))
    assert total(both.db, playback) == int(
        (
            frame[
                (frame.occurred_at >= filters.start)
                & (frame.occurred_at < filters.end)
                & frame.category.isin(filters.categories)
            ].local_hour
            == 8
        ).sum()
    )


def test_coverage_on_hand_built_cases(settings: Settings) -> None:
    cams = load_registry(PROJECT_ROOT / "cameras.geojson", settings).cameras
    masjid = next(c for c in cams if c.id == "plg-cam9-masjid-agung")  # heading 75°, 120 m
    crs = settings.city.metric_crs
    ahead = (
        masjid.lon + 0.0006 * np.sin(np.radians(75)),
        masjid.lat + 0.0006 * np.cos(np.radians(75)),
    )  # ~67 m along its axis: seen
    behind = (
        masjid.lon - 0.0006 * np.sin(np.radians(75)),
        masjid.lat - 0.0006 * np.cos(np.radians(75)),
    )  # ~67 m behind it: near, not seen
    far = (104.80, -3.05)  # kilometres from any camera
    lon = [ahead[0], behind[0], far[0]]
    lat = [ahead[1], behind[1], far[1]]
    result = coverage(lon, lat, [masjid], crs, near_m=100)
    assert (result.total, result.in_view, result.near) == (3, 1, 1)
    assert result.uncovered.tolist() == [2]
    assert coverage(lon, lat, [masjid], crs, near_m=50).uncovered.tolist() == [1, 2]


def test_greedy_placement_takes_the_biggest_cluster_first(settings: Settings) -> None:
    rng = np.random.default_rng(2)
    big = (104.70 + rng.normal(0, 0.0002, 40), -2.95 + rng.normal(0, 0.0002, 40))
    small = (104.80 + rng.normal(0, 0.0002, 15), -3.00 + rng.normal(0, 0.0002, 15))
    lon = np.concatenate([big[0], small[0]])
    lat = np.concatenate([big[1], small[1]])
    sites = greedy_sites(lon, lat, settings.city.metric_crs, 3, radius_m=150)
    assert [s.gain for s in sites] == [40, 15]  # then nothing left to cover
    assert abs(sites[0].lon - 104.70) < 0.002 and abs(sites[1].lat + 3.00) < 0.002
    assert sites[-1].cumulative == 55


def test_click_grid_covers_the_city_and_stays_small(settings: Settings) -> None:
    import json as jsonlib

    import pydeck as pdk

    from lawangjabo.views.incidentview import cell_centre, pick_cells
    from lawangjabo.views.layers import pick_grid_layer

    box = settings.city.bbox
    cells = pick_cells(box.west, box.south, box.east, box.north)
    assert 500 < len(cells) < 1500
    lat, lon = cell_centre(cells[0])
    assert box.contains(lon, lat) or abs(lat - box.south) < 0.01 or abs(lon - box.west) < 0.01
    found = h3.latlng_to_cell(-2.98883, 104.76372, 8)  # Pasar 16 Ilir
    assert found in cells
    spec = jsonlib.loads(
        pdk.Deck(layers=pick_grid_layer(cells, found), map_provider=None).to_json()
    )
    assert set(spec["layers"][0]["data"][0]) == {"hex"}  # nothing but the cell id per row
    assert spec["layers"][1]["data"] == [{"hex": found}]


def test_a_second_report_of_the_same_thing_is_found(both: IncidentStore) -> None:
    """Same category within 200 m and 10 minutes: a likely duplicate; farther, later or of
    another category: not."""
    t0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    first = both.create(NewIncident(t0, "kebakaran", "P1", -2.9900, 104.7600), "ops")
    both.create(NewIncident(t0, "banjir_genangan", "P2", -2.9900, 104.7600), "ops")
    both.create(NewIncident(t0 - timedelta(minutes=30), "kebakaran", "P1", -2.99, 104.76), "ops")
    both.create(NewIncident(t0, "kebakaran", "P1", -2.9940, 104.7600), "ops")  # ~440 m south
    again = NewIncident(t0 + timedelta(minutes=4), "kebakaran", "P1", -2.9911, 104.7605)
    found = both.likely_duplicates(again)
    assert [d["id"] for d in found] == [first]
    assert 100 < found[0]["metres"] < 200
    assert both.likely_duplicates(NewIncident(t0, "kemacetan", "P2", -2.99, 104.76)) == []


def test_coverage_equals_every_point_against_every_wedge(settings: Settings) -> None:
    """The grid shortcut gives the answer of the plain geometry: each point tested against
    each camera's wedge (intersects) and distance (dwithin) with shapely."""
    import shapely

    from lawangjabo.cameras.synthetic import synthetic_cameras
    from lawangjabo.incidents.coverage import _metric_wedge

    crs = settings.city.metric_crs
    cameras = synthetic_cameras(settings, 60, seed=5)
    rng = np.random.default_rng(9)
    box = settings.city.bbox
    lon = rng.uniform(box.west, box.east, 30_000)
    lat = rng.uniform(box.south, box.north, 30_000)
    # and points crowded around the cameras, where the wedges' edges are
    pick = rng.integers(0, len(cameras), 30_000)
    lon = np.concatenate([lon, [cameras[i].lon for i in pick] + rng.normal(0, 0.001, 30_000)])
    lat = np.concatenate([lat, [cameras[i].lat for i in pick] + rng.normal(0, 0.001, 30_000)])
    result = coverage(lon, lat, cameras, crs, near_m=100)

    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    points = shapely.points(x, y)
    seen = np.zeros(len(lon), dtype=bool)
    close = np.zeros(len(lon), dtype=bool)
    for camera in cameras:
        seen |= shapely.intersects(_metric_wedge(camera, crs), points)
        cx, cy = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(
            camera.lon, camera.lat
        )
        close |= shapely.dwithin(shapely.Point(cx, cy), points, 100)
    assert result.in_view == int(seen.sum()) > 1000
    assert result.near == int((close & ~seen).sum()) > 1000
    assert result.uncovered.tolist() == np.flatnonzero(~seen & ~close).tolist()


def test_many_at_once_go_in_as_one_columnar_insert_with_their_events(both: IncidentStore) -> None:
    """Above BULK_FROM incidents the insert is columnar: the same rows, derived columns and one
    'created' event each as the row-by-row path (on both backends)."""
    from lawangjabo.incidents.store import BULK_FROM

    items = [
        NewIncident(NOW - timedelta(minutes=n), ("kebakaran", "kemacetan")[n % 2], "P2",
                    -2.98819 + n * 1e-4, 104.76045, source="call_112", external_id=f"b-{n}")
        for n in range(BULK_FROM + 10)
    ]  # fmt: skip
    ids = both.insert(items, "importer")
    assert len(ids) == len(set(ids)) == len(items) and ids == sorted(ids)
    assert both.count() == len(items)
    row = both.get(ids[0])
    assert row is not None and row["kecamatan"] == "Bukit Kecil" and row["lead_agency"] == "damkar"
    assert both.external_ids("call_112") == {f"b-{n}" for n in range(len(items))}
    for new_id in (ids[0], ids[-1]):
        (event,) = both.events(new_id)
        assert (event["kind"], event["to_status"], event["actor"]) == ("created", "new", "importer")
    one = both.create(NewIncident(NOW, "kebakaran", "P1", -2.98819, 104.76045), "op")
    assert one == ids[-1] + 1  # the row-by-row path goes on from there


def test_incidents_get_their_kelurahan_at_ingest_and_older_ones_are_filled_in(
    store: IncidentStore, settings: Settings
) -> None:
    """Before the finer level is installed incidents have no kelurahan; once it is, new ones
    get theirs as they enter and a background fill gives the stored ones theirs (resumable,
    in chunks); analytics then count, filter and tell coverage by either level."""
    from lawangjabo.geo.districts import import_boundaries, load_sublevel_layer
    from lawangjabo.incidents.analytics import choropleth, placed_points
    from lawangjabo.views.incidentview import place_areas, unseen_by_place

    sample = PROJECT_ROOT / "tests" / "data" / "boundaries" / "kelurahan_sample.geojson"
    import_boundaries(sample, settings.city, settings.paths.sublevel_file, name_field="WADMKD",
                      code_field="KDEPUM", allow_partial=True, sublevel=True)  # fmt: skip
    layer = load_sublevel_layer(settings.city, settings.paths.sublevel_file)
    assert layer is not None
    inside = [d.geometry.representative_point() for d in layer.districts[:3]]
    older = [NewIncident(NOW, "kemacetan", "P3", p.y, p.x) for p in inside]
    first_ids = store.insert(older, "op")
    assert {store.get(i)["kelurahan"] for i in first_ids} == {None}  # type: ignore[index]

    with_level = IncidentStore(store.db, settings, Enricher(
        settings, store.enricher.districts, store.enricher.cameras, layer))  # fmt: skip
    (new_id,) = with_level.insert([NewIncident(NOW, "kebakaran", "P1", inside[0].y,
                                               inside[0].x)], "op")  # fmt: skip
    assert with_level.get(new_id)["kelurahan"] == layer.districts[0].name  # type: ignore[index]
    upto, left = with_level.fill_places(0, chunk=2)
    assert (upto, left) == (first_ids[1], 2)  # two done, two to go
    upto, left = with_level.fill_places(upto, chunk=2)
    assert left == 0 and with_level.fill_places(upto) == (upto, 0)
    names = [with_level.get(i)["kelurahan"] for i in first_ids]  # type: ignore[index]
    assert names == [d.name for d in layer.districts[:3]]

    period = Filters(NOW - timedelta(days=1), NOW + timedelta(days=1), level="kelurahan")
    areas = place_areas(layer, settings.city.metric_crs)
    rows = {r["kelurahan"]: r["count"] for r in choropleth(store.db, period, areas)}
    assert rows[layer.districts[0].name] == 2 and rows[layer.districts[1].name] == 1
    assert len(rows) == 32 and sum(rows.values()) == 4
    one = Filters(period.start, period.end, level="kelurahan", places=(layer.districts[1].name,))
    assert total(store.db, one) == 1
    lon, _, places = placed_points(store.db, period)
    assert len(lon) == 4 and sorted(map(str, places)) == sorted(map(str, [*names, names[0]]))
    unseen = unseen_by_place(places, np.array([0]))  # the first incident seen by no camera
    first = str(places[0])
    assert unseen[first] == round(100 / places.count(first), 1)
    assert all(v == 0 for p, v in unseen.items() if p != first)
    with pytest.raises(ValueError):
        Filters(NOW, NOW, level="desa; DROP TABLE incidents")
