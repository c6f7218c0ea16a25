"""Agency scope on every field that names or measures a camera (issue 22, item 1): the nearest
camera and its distance among an account's visible cameras, in lists, details, exports, the
evidence manifest and the planner's coverage."""

from __future__ import annotations

import io
import json
import math
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from lawangjabo.cameras.registry import Camera, load_registry
from lawangjabo.config import PROJECT_ROOT, Settings
from lawangjabo.geo.districts import approximate_districts
from lawangjabo.incidents.analytics import Filters
from lawangjabo.incidents.evidence import evidence_zip
from lawangjabo.incidents.files import export_incidents
from lawangjabo.incidents.scope import CameraScope, NearestCamera
from lawangjabo.incidents.store import Enricher, IncidentStore, NewIncident
from lawangjabo.storage.db import Database

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
INTERNAL = "sec-polres-internal-01"


def _offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (lon + east_m / (111_320 * math.cos(math.radians(lat))), lat + north_m / 111_320)


def _cameras(settings: Settings) -> list[Camera]:
    districts = approximate_districts(settings.city)
    return load_registry(PROJECT_ROOT / "cameras.geojson", settings, districts).cameras


def _internal(settings: Settings, near: Camera) -> Camera:
    """Another agency's internal camera 300 m east of ``near``."""
    lon, lat = _offset(near.lon, near.lat, 300, 0)
    props = near.props.model_copy(
        update={"id": INTERNAL, "name": "Polres internal gate", "owner": "polrestabes",
                "scope": "internal"}
    )  # fmt: skip
    return Camera(props, lon, lat)


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> tuple[IncidentStore, list[Camera], Camera]:
    """A store whose enricher knows every camera plus an internal one; (store, the cameras a
    Dishub operator sees, the internal camera)."""
    public = _cameras(settings)
    hidden = _internal(settings, public[0])
    districts = approximate_districts(settings.city)
    store = IncidentStore(Database(tmp_path / "lj.duckdb"), settings,
                          Enricher(settings, districts, [*public, hidden]))  # fmt: skip
    return store, public, hidden


def test_the_nearest_visible_camera_replaces_a_hidden_one(
    world: tuple[IncidentStore, list[Camera], Camera], settings: Settings
) -> None:
    store, public, hidden = world
    crs = settings.city.metric_crs
    spot = _offset(hidden.lon, hidden.lat, 0, 22)  # 22 m north of the internal camera
    far = _offset(public[0].lon, public[0].lat, 0, 5)  # beside a public camera
    ids = store.insert([NewIncident(T0, "kemacetan", "P2", spot[1], spot[0]),
                        NewIncident(T0, "kemacetan", "P2", far[1], far[0])], "op")  # fmt: skip
    stored = [store.get(i) for i in ids]
    assert stored[0] is not None and stored[0]["nearest_camera"] == INTERNAL
    assert stored[0]["camera_distance_m"] == pytest.approx(22, abs=0.5)
    scope = CameraScope.of(public, crs, limited=True)
    mine = scope.incident(stored[0])
    assert mine is not None
    expected_id, expected_m = NearestCamera(public, crs).query([spot[0]], [spot[1]])
    assert mine["nearest_camera"] == expected_id[0] != INTERNAL
    assert mine["camera_distance_m"] == expected_m[0] > 50  # a public one, farther than 22 m
    assert stored[0]["nearest_camera"] == INTERNAL  # the stored row itself is untouched
    # A visible stored camera stays as it is; an unrestricted account sees everything stored.
    assert scope.incident(stored[1]) == stored[1]
    assert CameraScope.of([*public, hidden], crs, limited=False).incident(stored[0]) == stored[0]
    # Without a position the hidden camera is dropped, not kept.
    blind = scope.records([{"nearest_camera": INTERNAL, "camera_distance_m": 22.0}])[0]
    assert blind == {"nearest_camera": None, "camera_distance_m": None}
    # A distance alone (its camera not asked for) is recomputed too.
    alone = scope.records([{"camera_distance_m": 22.0, "lon": spot[0], "lat": spot[1]}])[0]
    assert alone["camera_distance_m"] == expected_m[0]
    # Records and frames agree.
    frame = scope.frame(pd.DataFrame([s for s in stored if s is not None]))
    assert frame.nearest_camera.tolist() == [r["nearest_camera"] for r in scope.records(stored)]  # type: ignore[arg-type]
    assert frame.camera_distance_m.tolist() == [mine["camera_distance_m"],
                                                stored[1]["camera_distance_m"]]  # type: ignore[index]  # fmt: skip
    # An account that sees no camera at all gets no nearest camera.
    none = CameraScope.of([], crs, limited=True).incident(stored[0])
    assert none is not None and none["nearest_camera"] is None and none["camera_distance_m"] is None


def test_exports_and_the_evidence_manifest_hold_nothing_of_the_hidden_camera(
    world: tuple[IncidentStore, list[Camera], Camera], settings: Settings
) -> None:
    store, public, hidden = world
    spot = _offset(hidden.lon, hidden.lat, 0, 22)
    [incident_id] = store.insert([NewIncident(T0, "kemacetan", "P2", spot[1], spot[0])], "op")
    hidden_m = store.get(incident_id)["camera_distance_m"]  # type: ignore[index]
    scope = CameraScope.of(public, settings.city.metric_crs, limited=True)
    everything = Filters(T0 - timedelta(days=1), T0 + timedelta(days=1))
    texts = []
    for fmt in ("csv", "geojson"):
        texts.append(export_incidents(store, everything, fmt, scope).decode())
    with zipfile.ZipFile(io.BytesIO(export_incidents(store, everything, "xlsx", scope))) as book:
        texts += [book.read(name).decode() for name in book.namelist()]
    parquet = pd.read_parquet(io.BytesIO(export_incidents(store, everything, "parquet", scope)))
    texts.append(parquet.to_csv())
    incident = scope.incident(store.get(incident_id))
    assert incident is not None
    archive = zipfile.ZipFile(io.BytesIO(evidence_zip(incident, [], {}, "op", T0)))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["incident"]["nearest_camera"] == incident["nearest_camera"] != INTERNAL
    texts.append(json.dumps(manifest))
    for text in texts:
        assert INTERNAL not in text and "Polres internal gate" not in text
        assert f"{hidden_m}" not in text, "the hidden camera's distance"
    # The unrestricted export does name it (the check above can fail).
    assert INTERNAL in export_incidents(store, everything, "csv").decode()
