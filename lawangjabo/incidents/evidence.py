"""Was it on camera? The cameras whose field of view covers an incident's spot, their state at
that moment and their stored picture nearest it; and the evidence export (one ZIP: pictures,
their times, camera metadata and the SHA-256 of each file, and who exported it).

A fixed camera sees the spot when it lies inside its wedge (heading, opening angle, range, in
the city's metric CRS). A PTZ camera's heading at that moment is not known: it is listed when the
spot is within its range, and says so. A state is what the poll just before the moment observed
(``online`` only for a good frame); without a poll then it is ``unknown``, never assumed.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import shapely
from pyproj import Transformer

from lawangjabo.cameras.registry import Camera
from lawangjabo.geo.geometry import fov_wedge, to_metric

UNKNOWN = "unknown"  # no poll observed the camera near that moment


@dataclass(frozen=True)
class Witness:
    camera: Camera
    distance_m: float
    state: str  # online, dark, frozen, an error kind, or unknown
    picture_at: datetime | None  # the stored picture nearest the moment, if any is kept
    picture: Path | None
    pointing_unknown: bool = False  # a PTZ camera in range: it may have looked elsewhere

    def gap_s(self, when: datetime) -> float | None:
        """How far the picture is from the moment (seconds; None: no picture kept)."""
        return None if self.picture_at is None else abs((self.picture_at - when).total_seconds())


def witnesses(
    lon: float,
    lat: float,
    when: datetime,
    cameras: list[Camera],
    crs: str,
    states: dict[str, str],
    picture_at: Callable[[str, datetime], tuple[datetime, Path] | None],
) -> list[Witness]:
    """Every camera of ``cameras`` that covers (lon, lat), best first: online at the moment,
    then with a picture kept, pointing known, the picture closest to the moment, nearest."""
    to_m = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_m.transform(lon, lat)
    found = []
    for camera in cameras:
        cx, cy = to_m.transform(camera.lon, camera.lat)
        distance = float(((x - cx) ** 2 + (y - cy) ** 2) ** 0.5)
        props = camera.props
        if distance > props.range_m:
            continue
        ptz = props.kind == "ptz"
        if not ptz:
            wedge = to_metric(
                fov_wedge(camera.lon, camera.lat, props.heading_deg, props.fov_deg, props.range_m,
                          crs), crs)  # fmt: skip
            if not shapely.intersects_xy(wedge, x, y):
                continue
        kept = picture_at(camera.id, when)
        state = states.get(camera.id, UNKNOWN)
        taken, path = kept if kept else (None, None)
        found.append(Witness(camera, round(distance, 1), state, taken, path, ptz))

    def rank(w: Witness) -> tuple[bool, bool, bool, float, float]:
        gap = w.gap_s(when)
        return (w.state != "online", gap is None, w.pointing_unknown,
                gap if gap is not None else 0.0, w.distance_m)  # fmt: skip

    return sorted(found, key=rank)


def evidence_zip(
    incident: dict[str, Any],
    found: list[Witness],
    agencies: dict[str, str],
    exported_by: str,
    exported_at: datetime,
) -> bytes:
    """One ZIP: each kept picture, ``manifest.json`` (incident, every covering camera with its
    metadata, state and picture time, the SHA-256 of each picture, who exported it and when)
    and ``SHA256SUMS``. No stream address or credential is written."""
    buffer = io.BytesIO()
    sums: list[str] = []
    cameras = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for w in found:
            public = w.camera.public_row(agencies.get(w.camera.props.owner, ""))
            entry: dict[str, Any] = {
                **{k: v for k, v in public.items() if k not in ("has_stream", "estimated")},
                "distance_m": w.distance_m,
                "state_at_incident": w.state,
                "pointing_unknown": w.pointing_unknown,
                "picture": None,
            }
            if w.picture is not None and w.picture_at is not None:
                try:
                    data = w.picture.read_bytes()
                except OSError:  # pruned since it was listed
                    data = None
                if data is not None:
                    name = f"pictures/{w.camera.id}_{w.picture_at:%Y%m%dT%H%M%SZ}.jpg"
                    digest = hashlib.sha256(data).hexdigest()
                    archive.writestr(name, data)
                    sums.append(f"{digest}  {name}")
                    entry["picture"] = {"file": name, "taken_at": w.picture_at.isoformat(),
                                        "sha256": digest, "bytes": len(data)}  # fmt: skip
            cameras.append(entry)
        manifest = {
            "incident": {k: (v.isoformat() if isinstance(v, datetime) else v)
                         for k, v in incident.items() if k not in ("h3_r7", "h3_r8", "h3_r9")},
            "cameras": cameras,
            "exported_by": exported_by,
            "exported_at": exported_at.isoformat(),
            "note": "pictures are the stored snapshots nearest the incident's time; a state is "
            "what the poll just before that moment observed ('unknown': no poll then)",
        }  # fmt: skip
        archive.writestr("manifest.json", json.dumps(manifest, indent=1, default=str))
        archive.writestr("SHA256SUMS", "\n".join(sums) + ("\n" if sums else ""))
    return buffer.getvalue()
