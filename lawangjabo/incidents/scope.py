"""Agency scope over the incident fields that name or measure a camera.

An incident row stores the nearest camera over *every* camera and its distance (computed once,
at ingest). An account limited to some agencies may not see another agency's internal cameras,
and neither their id, their name nor their distance: a few distances from known spots
triangulate a camera. :class:`CameraScope` gives such an account the nearest of the cameras it
may see instead — the stored one when it is visible (the nearest of all is then also the
nearest of the visible ones), else recomputed over the visible cameras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from lawangjabo.cameras.registry import Camera

NEAREST, DISTANCE = "nearest_camera", "camera_distance_m"


class NearestCamera:
    """The nearest of some cameras to many points at once, measured in a metric CRS."""

    def __init__(self, cameras: Sequence[Camera], crs: str) -> None:
        self._to_metric = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._ids = np.array([c.id for c in cameras], dtype=object)
        self._tree: shapely.STRtree | None = None
        if len(cameras):
            x, y = self._to_metric.transform([c.lon for c in cameras], [c.lat for c in cameras])
            self._tree = shapely.STRtree(shapely.points(np.asarray(x), np.asarray(y)))

    def metric(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        x, y = self._to_metric.transform(lon, lat)
        return np.asarray(x), np.asarray(y)

    def query(
        self, lon: Sequence[float] | NDArray[np.float64], lat: Sequence[float] | NDArray[np.float64]
    ) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
        """Per point: the nearest camera's id (None without cameras) and its distance in metres
        rounded to 0.1 m (NaN without cameras)."""
        lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        n = len(lon_a)
        nearest = np.full(n, None, dtype=object)
        distance = np.full(n, np.nan)
        if n and self._tree is not None:
            x, y = self.metric(lon_a, lat_a)
            (where, which), dist = self._tree.query_nearest(
                shapely.points(x, y), return_distance=True, all_matches=False
            )
            nearest[where] = self._ids[which]
            distance[where] = np.round(dist, 1)
        return nearest, distance


@dataclass(frozen=True)
class CameraScope:
    """What an account may know of cameras in incident fields: ``visible`` is the set of
    camera ids it may see (None: every camera, nothing is changed)."""

    visible: frozenset[str] | None
    finder: NearestCamera | None = None

    @classmethod
    def of(cls, cameras: Sequence[Camera], crs: str, limited: bool) -> CameraScope:
        """The scope of an account that sees ``cameras`` (``limited``: to some agencies)."""
        if not limited:
            return cls(None)
        return cls(frozenset(c.id for c in cameras), NearestCamera(cameras, crs))

    def allows(self, camera_id: object) -> bool:
        return self.visible is None or camera_id in self.visible

    def _sees(self, camera_id: object) -> bool:
        """A stored nearest camera this account may see (None: none was stored)."""
        return camera_id is not None and self.allows(camera_id)

    def _nearest(
        self, lon: Sequence[float] | NDArray[np.float64], lat: Sequence[float] | NDArray[np.float64]
    ) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
        if self.finder is None:
            return np.full(len(lon), None, dtype=object), np.full(len(lon), np.nan)
        return self.finder.query(lon, lat)

    def records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Incident records with the nearest camera and its distance as this account may know
        them (recomputed from the record's ``lon``/``lat``; a record without them keeps neither
        field unless the stored camera is visible)."""
        if self.visible is None or not records:
            return records
        redo = [k for k, r in enumerate(records)
                if (NEAREST in r or DISTANCE in r) and not self._sees(r.get(NEAREST))]  # fmt: skip
        if not redo:
            return records
        placed = [k for k in redo if records[k].get("lon") is not None
                  and records[k].get("lat") is not None]  # fmt: skip
        ids, metres = self._nearest([records[k]["lon"] for k in placed],
                                    [records[k]["lat"] for k in placed])  # fmt: skip
        found = {k: (ids[n], float(metres[n])) for n, k in enumerate(placed)}
        out = list(records)
        for k in redo:
            camera, distance = found.get(k, (None, float("nan")))
            fixed = dict(records[k])
            fixed[NEAREST] = camera
            fixed[DISTANCE] = None if np.isnan(distance) else distance
            out[k] = fixed
        return out

    def incident(self, record: dict[str, Any] | None) -> dict[str, Any] | None:
        """One incident record as this account may know it."""
        return None if record is None else self.records([record])[0]

    def frame(self, frame: Any) -> Any:
        """A pandas DataFrame of incidents (``lon``, ``lat``, ``nearest_camera`` and
        ``camera_distance_m`` columns) as this account may know it, vectorised."""
        named = [c for c in (NEAREST, DISTANCE) if c in frame.columns]
        if self.visible is None or not named or not len(frame):
            return frame
        stored = frame[NEAREST].tolist() if NEAREST in named else [None] * len(frame)
        foreign = ~np.fromiter((self._sees(c) for c in stored), dtype=bool, count=len(frame))
        if not foreign.any():
            return frame
        out = frame.copy()
        lon = out["lon"].to_numpy(dtype=float)[foreign]
        lat = out["lat"].to_numpy(dtype=float)[foreign]
        ids, metres = self._nearest(lon, lat)
        if NEAREST in named:
            out[NEAREST] = out[NEAREST].astype(object)
            out.loc[foreign, NEAREST] = ids
        if DISTANCE in named:
            out[DISTANCE] = out[DISTANCE].astype(float)
            out.loc[foreign, DISTANCE] = metres
        return out
