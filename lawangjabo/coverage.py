"""Coverage gaps: which incidents no camera sees, and where one new camera would see the most.

All in the metric CRS (EPSG:32748 for Palembang). A camera sees an incident when the incident lies
inside its field-of-view wedge (heading, opening angle, range). Placement is greedy: each step
takes the candidate that covers the most still-uncovered incidents within ``radius_m`` (a new
360° camera), and reports that gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3.api.basic_int as h3_int
import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from .geometry import fov_wedge, to_metric
from .registry import Camera


@dataclass(frozen=True)
class Coverage:
    total: int
    in_view: int  # inside at least one field of view
    near: int  # within ``near_m`` of a camera (but maybe outside its view)
    uncovered: NDArray[np.int64]  # indices of incidents in no field of view and not near

    @property
    def blind_share(self) -> float:
        return len(self.uncovered) / self.total if self.total else 0.0


@dataclass(frozen=True)
class Suggestion:
    lon: float
    lat: float
    gain: int  # incidents this camera would newly cover
    cumulative: int


def _metric_points(
    lon: NDArray[np.float64], lat: NDArray[np.float64], crs: str
) -> NDArray[np.object_]:
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    result: NDArray[np.object_] = shapely.points(np.asarray(x), np.asarray(y))
    return result


def _near_cells(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    cx: NDArray[np.float64],
    cy: NDArray[np.float64],
    reach: float,
) -> NDArray[np.int64]:
    """Indices of points in grid cells (side ``reach``) at or next to a camera's cell: the only
    points that can be within ``reach`` of a camera. Pure numpy, so a million points cost
    milliseconds before any geometry is built."""
    x0, y0 = min(x.min(), cx.min()) - reach, min(y.min(), cy.min()) - reach
    width = int((max(x.max(), cx.max()) - x0) // reach) + 3
    height = int((max(y.max(), cy.max()) - y0) // reach) + 3
    marked = np.zeros((width, height), dtype=bool)
    ci = ((cx - x0) // reach).astype(np.int64)
    cj = ((cy - y0) // reach).astype(np.int64)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            marked[ci + di, cj + dj] = True
    pi = ((x - x0) // reach).astype(np.int64)
    pj = ((y - y0) // reach).astype(np.int64)
    return np.flatnonzero(marked[pi, pj])


def coverage(
    lon: list[float] | NDArray[np.float64],
    lat: list[float] | NDArray[np.float64],
    cameras: list[Camera],
    crs: str,
    near_m: float,
) -> Coverage:
    lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    n = len(lon_a)
    if n == 0:
        return Coverage(0, 0, 0, np.zeros(0, dtype=np.int64))
    seen = np.zeros(n, dtype=bool)
    close = np.zeros(n, dtype=bool)
    if cameras:
        to_m = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x, y = (np.asarray(v) for v in to_m.transform(lon_a, lat_a))
        cx, cy = (
            np.asarray(v)
            for v in to_m.transform([c.lon for c in cameras], [c.lat for c in cameras])
        )
        reach = max(near_m, *(c.props.range_m for c in cameras))
        candidates = _near_cells(x, y, cx, cy, reach)
        pts = shapely.points(x[candidates], y[candidates])
        sites = shapely.STRtree(shapely.points(cx, cy))
        hit, _ = sites.query(pts, predicate="dwithin", distance=near_m)
        close[candidates[hit]] = True
        wedges = [
            to_metric(
                fov_wedge(c.lon, c.lat, c.props.heading_deg, c.props.fov_deg, c.props.range_m, crs),
                crs,
            )
            for c in cameras
        ]
        hit, _ = shapely.STRtree(wedges).query(pts, predicate="intersects")
        seen[candidates[hit]] = True
    uncovered = np.flatnonzero(~seen & ~close)
    return Coverage(n, int(seen.sum()), int((close & ~seen).sum()), uncovered)


def greedy_sites(
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    crs: str,
    count: int,
    radius_m: float,
    candidate_resolution: int = 10,
) -> list[Suggestion]:
    """Up to ``count`` new camera sites, each covering the most incidents not yet covered.
    Candidates: centres of the H3 cells (resolution 10, ~66 m) holding uncovered incidents."""
    n = len(lon)
    if n == 0 or count <= 0:
        return []
    cells = np.unique(
        np.fromiter(
            (
                h3_int.latlng_to_cell(la, lo, candidate_resolution)
                for la, lo in zip(np.asarray(lat).tolist(), np.asarray(lon).tolist(), strict=True)
            ),
            dtype=np.uint64,
            count=n,
        )
    )
    centres = np.array([h3_int.cell_to_latlng(int(c)) for c in cells])  # (lat, lon)
    cand = _metric_points(centres[:, 1], centres[:, 0], crs)
    pts = _metric_points(np.asarray(lon), np.asarray(lat), crs)
    cand_idx, pt_idx = shapely.STRtree(pts).query(cand, predicate="dwithin", distance=radius_m)
    remaining = np.ones(n, dtype=bool)
    chosen: list[Suggestion] = []
    total = 0
    for _ in range(count):
        live = remaining[pt_idx]
        gains = np.bincount(cand_idx[live], minlength=len(cand))
        best = int(gains.argmax())
        if gains[best] == 0:
            break
        covered = pt_idx[(cand_idx == best) & live]
        remaining[covered] = False
        total += int(gains[best])
        chosen.append(
            Suggestion(float(centres[best, 1]), float(centres[best, 0]), int(gains[best]), total)
        )
    return chosen
