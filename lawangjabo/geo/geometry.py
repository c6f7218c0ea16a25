"""Geometry in the city's metric CRS: projections, camera field-of-view wedges, the river band."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

WGS84 = "EPSG:4326"


@lru_cache(maxsize=8)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _reproject(geom: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    result: BaseGeometry = shapely.transform(geom, convert)
    return result


def to_metric(geom: BaseGeometry, metric_crs: str) -> BaseGeometry:
    """Project a lon/lat geometry to the metric CRS."""
    return _reproject(geom, _transformer(WGS84, metric_crs))


def to_lonlat(geom: BaseGeometry, metric_crs: str) -> BaseGeometry:
    """Project a metric-CRS geometry back to lon/lat."""
    return _reproject(geom, _transformer(metric_crs, WGS84))


def project_point(lon: float, lat: float, metric_crs: str) -> tuple[float, float]:
    x, y = _transformer(WGS84, metric_crs).transform(lon, lat)
    return float(x), float(y)


def fov_wedge(
    lon: float,
    lat: float,
    heading_deg: float,
    fov_deg: float,
    range_m: float,
    metric_crs: str,
    arc_steps: int = 16,
) -> Polygon:
    """The ground a camera sees: a circular sector in lon/lat.

    ``heading_deg`` is a compass bearing (0 = north, 90 = east) of the view's centre line,
    ``fov_deg`` the horizontal opening angle, ``range_m`` the useful distance. A 360° field of view
    gives a full disc. The sector is built in ``metric_crs`` so range and angles are true.
    """
    if range_m <= 0 or fov_deg <= 0:
        raise ValueError("range_m and fov_deg must be positive")
    x0, y0 = project_point(lon, lat, metric_crs)
    fov = min(fov_deg, 360.0)
    steps = max(2, math.ceil(arc_steps * fov / 90.0))
    start = heading_deg - fov / 2.0
    arc = []
    for i in range(steps + 1):
        bearing = math.radians(start + fov * i / steps)
        arc.append((x0 + range_m * math.sin(bearing), y0 + range_m * math.cos(bearing)))
    ring = arc if fov >= 360.0 else [(x0, y0), *arc, (x0, y0)]
    wedge = Polygon(ring)
    result = to_lonlat(wedge, metric_crs)
    assert isinstance(result, Polygon)
    return result


def river_band(
    centreline: Sequence[tuple[float, float]], width_m: float, metric_crs: str
) -> Polygon:
    """A river drawn as its centreline (lon, lat pairs) buffered to ``width_m`` in metric CRS."""
    line = to_metric(LineString(centreline), metric_crs)
    band = line.buffer(width_m / 2.0, cap_style="flat", join_style="round")
    result = to_lonlat(band, metric_crs)
    assert isinstance(result, Polygon)
    return result
