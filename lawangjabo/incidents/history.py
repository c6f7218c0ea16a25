"""A seeded synthetic incident history calibrated to Palembang (demo and benchmarks).

Rates per category come from the city file (fires ~0.75/day, traffic accidents ~2.5/day, …);
flooding comes in bursts on rain days from November to March at the known flood spots;
congestion at junctions in the peak hours of working days; daily and weekly rhythms; positions
cluster on junctions and around the districts' centres. Fully vectorised: a year takes well under
a second, ten million rows a few seconds (before the derived columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lawangjabo.config import Settings

# Hour-of-day weights (local time) by kind of incident.
_TRAFFIC = np.array(
    [2, 1, 1, 1, 2, 4, 8, 10, 9, 6, 5, 5, 6, 6, 6, 7, 9, 10, 9, 7, 5, 4, 3, 2], dtype=float
)
_EVENING = np.array(
    [3, 2, 2, 1, 1, 2, 3, 4, 5, 5, 6, 7, 8, 8, 7, 7, 7, 8, 9, 9, 8, 6, 5, 4], dtype=float
)
_DAYTIME = np.array(
    [1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 9, 8, 8, 8, 8, 7, 6, 4, 3, 2, 2, 1, 1], dtype=float
)
_NIGHT = np.array(
    [8, 8, 7, 6, 4, 3, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 5, 6, 7, 8, 9, 9], dtype=float
)
HOURLY = {
    "kecelakaan_lalu_lintas": _TRAFFIC,
    "kemacetan": _TRAFFIC,
    "lampu_lalu_lintas_mati": _DAYTIME,
    "kebakaran": _EVENING,
    "kriminalitas": _NIGHT,
    "gangguan_ketertiban": _EVENING,
}
NEAR_JUNCTIONS = {
    "kecelakaan_lalu_lintas": 0.6,
    "kemacetan": 1.0,
    "lampu_lalu_lintas_mati": 0.9,
    "kriminalitas": 0.3,
    "gangguan_ketertiban": 0.5,
}
P1_SHARE = {
    "kebakaran": 0.6,
    "kecelakaan_lalu_lintas": 0.3,
    "darurat_medis": 0.5,
    "orang_hilang_tenggelam": 0.8,
    "banjir_genangan": 0.15,
    "kriminalitas": 0.2,
}
RAINY_MONTHS = (11, 12, 1, 2, 3)


@dataclass
class History:
    """Columns of a synthetic history (same length each)."""

    occurred_at: NDArray[np.int64]  # epoch seconds, UTC
    category: NDArray[np.str_]
    priority: NDArray[np.str_]
    status: NDArray[np.str_]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.occurred_at)


def _around(
    rng: np.random.Generator, centres: NDArray[np.float64], n: int, sigma_m: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    pick = centres[rng.integers(0, len(centres), n)]
    deg = sigma_m / 111_320
    return pick[:, 0] + rng.normal(0, deg, n), pick[:, 1] + rng.normal(0, deg, n)


def generate(
    settings: Settings, end: datetime, days: int, seed: int = 7, scale: float = 1.0
) -> History:
    """``days`` of incidents ending at ``end``; ``scale`` multiplies every rate (benchmarks)."""
    rng = np.random.default_rng(seed)
    tz_offset = 7 * 3600  # WIB, for the daily rhythm
    start = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = int(start.timestamp())
    days += 1  # and today, up to ``end``
    day_index = np.arange(days)
    dates = [start + timedelta(days=int(d)) for d in day_index]
    months = np.array([d.month for d in dates])
    weekday = np.array([d.weekday() for d in dates])
    rainy = np.isin(months, RAINY_MONTHS)
    rain_day = rainy & (rng.random(days) < 0.22)

    city = settings.city
    districts = (
        np.array([[d.point.lat, d.point.lon] for d in city.districts])
        if city.districts
        else np.array([[city.centre.lat, city.centre.lon]])
    )
    junctions = (
        np.array([[p.lat, p.lon] for p in settings.incidents.junctions])
        if settings.incidents.junctions
        else districts
    )
    floods = (
        np.array([[p.lat, p.lon] for p in settings.incidents.flood_spots])
        if settings.incidents.flood_spots
        else districts
    )

    parts: dict[str, list[NDArray[Any]]] = {k: [] for k in ("t", "cat", "lat", "lon")}
    for category in settings.incident_categories:
        rate = np.full(days, category.rate_per_day * scale)
        if category.id in ("kecelakaan_lalu_lintas", "gangguan_ketertiban"):
            rate *= np.where(weekday >= 5, 1.2, 0.95)
        if category.id == "pohon_tumbang":
            rate *= np.where(rain_day, 4.0, np.where(rainy, 1.3, 0.7))
        if category.id == "banjir_genangan":
            rate = np.where(rain_day, rng.uniform(4, 12, days), 0.02) * scale
        if category.id == "kemacetan":
            rate = np.where(weekday < 5, 3.0, 1.0) * np.where(rain_day, 1.8, 1.0) * scale
        counts = rng.poisson(rate)
        n = int(counts.sum())
        if n == 0:
            continue
        day_of = np.repeat(day_index, counts)
        hourly = HOURLY.get(category.id, _DAYTIME)
        hours = rng.choice(24, size=n, p=hourly / hourly.sum())
        seconds = day0 + day_of * 86400 + hours * 3600 + rng.integers(0, 3600, n) - tz_offset
        if category.id == "banjir_genangan":
            lat, lon = _around(rng, floods, n, 180)
        else:
            near = rng.random(n) < NEAR_JUNCTIONS.get(category.id, 0.15)
            jl, jo = _around(rng, junctions, n, 220)
            dl, do = _around(rng, districts, n, 1300)
            lat, lon = np.where(near, jl, dl), np.where(near, jo, do)
        parts["t"].append(seconds)
        parts["cat"].append(np.full(n, category.id))
        parts["lat"].append(lat)
        parts["lon"].append(lon)

    t = np.concatenate(parts["t"]).astype(np.int64)
    cat = np.concatenate(parts["cat"])
    lat = np.clip(np.concatenate(parts["lat"]), city.bbox.south, city.bbox.north)
    lon = np.clip(np.concatenate(parts["lon"]), city.bbox.west, city.bbox.east)
    order = np.argsort(t, kind="stable")
    t, cat, lat, lon = t[order], cat[order], lat[order], lon[order]
    n = len(t)
    p1 = np.vectorize(lambda c: P1_SHARE.get(str(c), 0.05))(cat) if n else np.zeros(0)
    roll = rng.random(n)
    priority = np.where(roll < p1, "P1", np.where(roll < p1 + 0.45, "P2", "P3"))
    age_h = (end.timestamp() - t) / 3600
    fate = rng.random(n)
    status = np.where(fate < 0.04, "hoax", np.where(fate < 0.09, "false_alarm", "closed"))
    status = np.where((age_h < 48) & (status == "closed"), "resolved", status)
    open_roll = rng.random(n)
    still_open = ((age_h < 3) & (open_roll < 0.8)) | ((age_h < 24) & (open_roll < 0.25))
    open_roll = open_roll / np.where(age_h < 3, 0.8, 0.25).clip(1e-9)  # rescale to 0..1
    status = np.where(
        still_open,
        np.where(open_roll < 0.3, "new", np.where(open_roll < 0.5, "dispatched", "on_scene")),
        status,
    )
    keep = t <= int(end.timestamp())
    return History(t[keep], cat[keep], priority[keep], status[keep], lat[keep], lon[keep])


def as_datetimes(epoch: NDArray[np.int64]) -> list[datetime]:
    return [datetime.fromtimestamp(int(s), UTC) for s in epoch]
