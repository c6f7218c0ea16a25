import math

import pytest
from shapely.geometry import Point

from lawangjabo.geo.geometry import fov_wedge, project_point, river_band, to_metric

CRS = "EPSG:32748"
BKB = (104.76127, -2.9913)


def _metric_area(geom: object) -> float:
    return float(to_metric(geom, CRS).area)


@pytest.mark.parametrize("fov", [30.0, 60.0, 90.0, 180.0])
def test_wedge_area_is_the_circular_sector(fov: float) -> None:
    wedge = fov_wedge(*BKB, heading_deg=45, fov_deg=fov, range_m=150, metric_crs=CRS)
    sector = math.pi * 150**2 * fov / 360
    assert _metric_area(wedge) == pytest.approx(sector, rel=0.01)


def test_full_circle_camera_is_a_disc_around_the_camera() -> None:
    disc = fov_wedge(*BKB, heading_deg=0, fov_deg=360, range_m=50, metric_crs=CRS)
    assert disc.contains(Point(*BKB))
    assert _metric_area(disc) == pytest.approx(math.pi * 50**2, rel=0.01)


@pytest.mark.parametrize(
    ("heading", "dx_sign", "dy_sign"),
    [(0, 0, 1), (90, 1, 0), (180, 0, -1), (270, -1, 0)],
)
def test_heading_is_a_compass_bearing(heading: float, dx_sign: int, dy_sign: int) -> None:
    wedge = fov_wedge(*BKB, heading_deg=heading, fov_deg=20, range_m=100, metric_crs=CRS)
    apex = project_point(*BKB, CRS)
    centre = to_metric(wedge, CRS).centroid
    dx, dy = centre.x - apex[0], centre.y - apex[1]
    for value, sign in ((dx, dx_sign), (dy, dy_sign)):
        if sign == 0:
            assert abs(value) < 5
        else:
            assert value * sign > 40


def test_wedge_apex_is_the_camera_and_range_is_true_metres() -> None:
    wedge = fov_wedge(*BKB, heading_deg=120, fov_deg=70, range_m=120, metric_crs=CRS)
    assert wedge.exterior.coords[0] == pytest.approx(BKB, abs=1e-9)
    apex = project_point(*BKB, CRS)
    far = max(math.dist(apex, xy) for xy in to_metric(wedge, CRS).exterior.coords)
    assert far == pytest.approx(120, abs=0.5)


@pytest.mark.parametrize(("fov", "range_m"), [(0, 100), (60, 0), (-10, 50)])
def test_degenerate_wedges_are_refused(fov: float, range_m: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        fov_wedge(*BKB, heading_deg=0, fov_deg=fov, range_m=range_m, metric_crs=CRS)


def test_river_band_has_its_width() -> None:
    line = [(104.74, -3.0), (104.78, -2.985)]
    band = river_band(line, 380, CRS)
    length = math.dist(project_point(*line[0], CRS), project_point(*line[1], CRS))
    assert _metric_area(band) == pytest.approx(length * 380, rel=0.02)
