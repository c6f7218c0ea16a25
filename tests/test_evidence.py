"""Was it on camera? (issue 14, item 7): the cameras covering an incident's spot, their state at
that moment from the ledger, their stored picture nearest it, and the evidence ZIP."""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from lawangjabo.cameras.imaging import encode_jpeg
from lawangjabo.cameras.ledger import states_at
from lawangjabo.cameras.registry import Camera, load_registry
from lawangjabo.cameras.snapshots import SnapshotMeta, SnapshotStore
from lawangjabo.config import PROJECT_ROOT, Settings
from lawangjabo.geo.districts import approximate_districts
from lawangjabo.incidents.evidence import UNKNOWN, evidence_zip, witnesses
from lawangjabo.storage.db import Database

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _cameras(settings: Settings) -> list[Camera]:
    districts = approximate_districts(settings.city)
    return load_registry(PROJECT_ROOT / "cameras.geojson", settings, districts).cameras


def _ahead(camera: Camera, metres: float, turn_deg: float = 0.0) -> tuple[float, float]:
    """A point ``metres`` from the camera along its heading (turned by ``turn_deg``)."""
    bearing = math.radians(camera.props.heading_deg + turn_deg)
    dlat = metres * math.cos(bearing) / 111_320
    dlon = metres * math.sin(bearing) / (111_320 * math.cos(math.radians(camera.lat)))
    return camera.lon + dlon, camera.lat + dlat


def _poll(db: Database, camera_id: str, at: datetime, ok: bool = True, **flags: object) -> None:
    db.execute(
        "INSERT INTO poll_outcomes (camera_id, polled_at, ok, error_kind, lane, dark, frozen) "
        "VALUES (?, ?, ?, ?, 'sweep', ?, ?)",
        [camera_id, at, ok, flags.get("error"), flags.get("dark", False),
         flags.get("frozen", False)],
    )  # fmt: skip


def test_the_cameras_that_saw_the_spot_best_first_with_state_and_nearest_picture(
    settings: Settings, tmp_path: Path
) -> None:
    cameras = _cameras(settings)
    fixed = [c for c in cameras if c.props.kind == "fixed" and c.props.fov_deg < 180]
    watcher = fixed[0]
    lon, lat = _ahead(watcher, watcher.props.range_m / 2)

    def twin(camera_id: str, at: tuple[float, float] | None = None, **change: object) -> Camera:
        lon_lat = at or (watcher.lon, watcher.lat)
        return Camera(watcher.props.model_copy(update={"id": camera_id, **change}), *lon_lat)

    behind = twin("plg-test-behind", heading_deg=(watcher.props.heading_deg + 180) % 360)
    ptz = twin("plg-test-ptz", kind="ptz", heading_deg=(watcher.props.heading_deg + 90) % 360)
    down = twin("plg-test-down")
    far = twin("plg-test-far", at=_ahead(watcher, -3 * watcher.props.range_m))
    everyone = [down, behind, far, ptz, watcher]

    db = Database(tmp_path / "ledger.duckdb")
    _poll(db, watcher.id, T0 - timedelta(seconds=20))
    _poll(db, down.id, T0 - timedelta(seconds=40))  # good, then refused just before
    _poll(db, down.id, T0 - timedelta(seconds=10), ok=False, error="refused")
    _poll(db, ptz.id, T0 - timedelta(seconds=15), dark=True)
    _poll(db, watcher.id, T0 + timedelta(seconds=5), ok=False, error="timeout")  # after: no matter
    states = states_at(db, [c.id for c in everyone], T0, gap_s=90)
    assert states == {watcher.id: "online", down.id: "refused", ptz.id: "dark"}

    store = SnapshotStore(tmp_path / "snapshots")
    picture = encode_jpeg(np.full((48, 64, 3), 128, dtype=np.uint8))
    for camera, at in ((watcher, T0 - timedelta(seconds=25)), (watcher, T0 - timedelta(hours=1)),
                       (ptz, T0 - timedelta(minutes=3))):  # fmt: skip
        store.save(camera.id, picture, picture, SnapshotMeta(camera.id, at, 64, 48))

    found = witnesses(lon, lat, T0, everyone, settings.city.metric_crs, states, store.at)
    assert [w.camera.id for w in found] == [watcher.id, ptz.id, down.id]  # behind, far: no
    best = found[0]
    assert best.state == "online" and best.picture_at == T0 - timedelta(seconds=25)
    assert best.distance_m == pytest.approx(watcher.props.range_m / 2, rel=0.02)
    assert found[1].pointing_unknown and found[1].state == "dark"
    assert found[2].picture is None and found[2].gap_s(T0) is None
    unobserved = witnesses(lon, lat, T0, [watcher], settings.city.metric_crs, {}, store.at)
    assert unobserved[0].state == UNKNOWN  # no poll then: never assumed online

    archive = zipfile.ZipFile(io.BytesIO(evidence_zip(
        {"id": 7, "occurred_at": T0, "category": "kebakaran", "lat": lat, "lon": lon},
        found, {"dishub": "Dinas Perhubungan"}, "op1", T0 + timedelta(hours=2))))  # fmt: skip
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["exported_by"] == "op1" and manifest["incident"]["id"] == 7
    assert [c["id"] for c in manifest["cameras"]] == [watcher.id, ptz.id, down.id]
    kept = manifest["cameras"][0]["picture"]
    data = archive.read(kept["file"])
    assert hashlib.sha256(data).hexdigest() == kept["sha256"] and data == picture
    assert f"{kept['sha256']}  {kept['file']}" in archive.read("SHA256SUMS").decode()
    assert manifest["cameras"][2]["picture"] is None
    text = archive.read("manifest.json").decode()
    assert "stream" not in text and "://" not in text  # no stream address ever leaves
