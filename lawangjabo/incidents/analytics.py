"""Incident analytics aggregated in DuckDB on the server: the browser gets cells, not points.

Every query takes the same :class:`Filters` and builds its WHERE clause with parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from lawangjabo.storage.db import Database, Gateway

HEX_COLUMN = {7: "h3_r7", 8: "h3_r8", 9: "h3_r9"}
LEVEL_COLUMNS = ("kecamatan", "kelurahan")  # the districts, and the city's finer level


def category_codes(db: Gateway) -> list[tuple[str, int]]:
    """(category, code) of every category ever stored; codes never change once given."""
    rows = db.execute("SELECT category, code FROM incident_category_codes")
    return [(category, int(code)) for category, code in rows]


def _where(db: Database, filters: Filters) -> tuple[str, list[Any]]:
    return filters.where(dict(category_codes(db)) if filters.categories else None)


@dataclass(frozen=True)
class Filters:
    start: datetime
    end: datetime
    categories: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    hours: tuple[int, ...] = ()  # local hours of day (playback)
    weekdays: tuple[int, ...] = ()  # 0 = Monday
    extra: dict[str, Any] = field(default_factory=dict)
    places: tuple[str, ...] = ()  # kecamatan or kelurahan names, as ``level`` says
    level: str = "kecamatan"  # a column of LEVEL_COLUMNS

    def __post_init__(self) -> None:
        if self.level not in LEVEL_COLUMNS:
            raise ValueError(f"level must be one of {LEVEL_COLUMNS}")

    def where(self, codes: Mapping[str, int] | None = None) -> tuple[str, list[Any]]:
        """The WHERE clause and its parameters. Given the category ``codes`` (see
        :func:`category_codes`) categories are matched on the small-integer column, which
        DuckDB filters faster than text."""
        clauses = ["occurred_at >= ?", "occurred_at < ?"]
        params: list[Any] = [self.start, self.end]
        if codes is not None and self.categories:
            known = [codes[c] for c in self.categories if c in codes]
            # Equalities joined by OR, not IN: DuckDB pushes them into the scan as a filter,
            # while IN with parameters is evaluated after it (12 ms -> 7.5 ms on 10 M rows).
            either = " OR ".join("category_code = ?" for _ in known)
            clauses.append(f"({either})" if known else "false")
            params.extend(known)
        for column, values in (
            ("category", () if codes is not None else self.categories),
            ("lead_agency", self.agencies),
            ("priority", self.priorities),
            ("status", self.statuses),
            ("local_hour", self.hours),
            ("local_dow", self.weekdays),
            (self.level, self.places),
        ):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        return " AND ".join(clauses), params

    def previous(self) -> Filters:
        """The same filter over the equally long period just before."""
        span = self.end - self.start
        return replace(self, start=self.start - span, end=self.start)


def heatmap(db: Database, filters: Filters, resolution: int = 8) -> list[dict[str, Any]]:
    """Incident counts per H3 cell, as ``H3HexagonLayer`` wants them (hex id strings)."""
    where, params = _where(db, filters)
    column = HEX_COLUMN[resolution]
    rows = db.execute(
        f"SELECT printf('%x', cell), n FROM (SELECT {column} AS cell, count(*) AS n "
        f"FROM incidents WHERE {where} GROUP BY {column}) ORDER BY n DESC",
        params,
    )
    return [{"hex": h, "count": int(n)} for h, n in rows]


def by_district(db: Database, filters: Filters) -> dict[str, int]:
    """Incidents per place of the filters' level (kecamatan or kelurahan)."""
    where, params = _where(db, filters)
    column = filters.level  # one of LEVEL_COLUMNS (checked by Filters)
    rows = db.execute(
        f"SELECT {column}, count(*) FROM incidents WHERE {where} AND {column} IS NOT NULL "
        "GROUP BY ALL",
        params,
    )
    return {k: int(n) for k, n in rows}


def choropleth(db: Database, filters: Filters, areas_km2: dict[str, float]) -> list[dict[str, Any]]:
    """Per place of the filters' level: count, per km², the previous period's count and the
    change in %."""
    now, before = by_district(db, filters), by_district(db, filters.previous())
    rows = []
    for name, area in areas_km2.items():
        n, p = now.get(name, 0), before.get(name, 0)
        rows.append(
            {
                filters.level: name,
                "count": n,
                "per_km2": round(n / area, 2) if area else None,
                "previous": p,
                "change_pct": round(100 * (n - p) / p, 1) if p else None,
            }
        )
    return sorted(rows, key=lambda r: -r["count"])


def hour_weekday(db: Database, filters: Filters) -> list[list[int]]:
    """A 7 × 24 matrix of counts (Monday first, local hours)."""
    where, params = _where(db, filters)
    matrix = [[0] * 24 for _ in range(7)]
    for dow, hour, n in db.execute(
        f"SELECT local_dow, local_hour, count(*) FROM incidents WHERE {where} GROUP BY ALL", params
    ):
        matrix[int(dow)][int(hour)] = int(n)
    return matrix


def hotspots(db: Database, filters: Filters, limit: int = 10) -> list[dict[str, Any]]:
    """The busiest resolution-9 cells (~0.1 km²) with their commonest category and kecamatan."""
    where, params = _where(db, filters)
    rows = db.execute(
        f"SELECT printf('%x', h3_r9) AS hex, count(*) AS n, mode(category), mode(kecamatan), "
        f"avg(lat), avg(lon) FROM incidents WHERE {where} GROUP BY h3_r9 ORDER BY n DESC "
        "LIMIT ?",
        [*params, limit],
    )
    return [
        {
            "hex": h,
            "count": int(n),
            "top category": c,
            "kecamatan": k,
            "lat": round(la, 5),
            "lon": round(lo, 5),
        }
        for h, n, c, k, la, lo in rows
    ]


def daily(db: Database, filters: Filters, timezone: str = "UTC") -> list[dict[str, Any]]:
    """Incidents per calendar day in ``timezone`` (a city's days, not UTC's)."""
    where, params = _where(db, filters)
    rows = db.execute(
        f"SELECT CAST(timezone(?, occurred_at) AS DATE) AS day, count(*) FROM incidents "
        f"WHERE {where} GROUP BY ALL ORDER BY day",
        [timezone, *params],
    )
    return [{"day": d, "count": int(n)} for d, n in rows]


def points(
    db: Database, filters: Filters, limit: int = 2_000_000
) -> tuple[list[float], list[float]]:
    """Incident positions for server-side computations (coverage), never for the browser."""
    lon, lat, _ = placed_points(db, filters, limit)
    return lon, lat


def placed_points(
    db: Database, filters: Filters, limit: int = 2_000_000
) -> tuple[list[float], list[float], list[str | None]]:
    """Incident positions and their place at the filters' level (for coverage per place)."""
    where, params = _where(db, filters)
    cursor_rows = db.execute(
        f"SELECT lon, lat, {filters.level} FROM incidents WHERE {where} LIMIT ?",
        [*params, limit],
    )
    return [r[0] for r in cursor_rows], [r[1] for r in cursor_rows], [r[2] for r in cursor_rows]


def total(db: Database, filters: Filters) -> int:
    where, params = _where(db, filters)
    return int(db.execute(f"SELECT count(*) FROM incidents WHERE {where}", params)[0][0])


def surge_counts(db: Database, now: datetime, window_h: float, baseline_days: int) -> list[Any]:
    """Per kecamatan: incidents in the last ``window_h`` hours, and the mean count in the same
    hours of each of the ``baseline_days`` days before."""
    return db.execute(
        """
        WITH recent AS (
            SELECT kecamatan, epoch($now) - epoch(occurred_at) AS age_s
            FROM incidents
            WHERE kecamatan IS NOT NULL AND occurred_at <= $now
              AND occurred_at > $now - to_days(CAST($days AS INTEGER) + 1)
        ), placed AS (
            SELECT kecamatan, floor(age_s / 86400) AS day_back,
                   age_s - floor(age_s / 86400) * 86400 AS into_day
            FROM recent
        )
        SELECT kecamatan,
               count(*) FILTER (WHERE day_back = 0 AND into_day < $window_s) AS current,
               count(*) FILTER (WHERE day_back BETWEEN 1 AND $days AND into_day < $window_s)
                   / $days AS usual
        FROM placed GROUP BY kecamatan ORDER BY kecamatan
        """,
        {"now": now, "days": baseline_days, "window_s": window_h * 3600},
    )


def open_p1_since(db: Database, since: datetime) -> list[tuple[Any, ...]]:
    """Open P1 incidents reported after ``since``: (id, category, kecamatan or '—', agency)."""
    from lawangjabo.incidents.store import OPEN_STATUSES

    return db.execute(
        f"""SELECT id, category, coalesce(kecamatan, '—'), lead_agency FROM incidents
            WHERE priority = 'P1' AND reported_at > ?
              AND status IN ({", ".join("?" * len(OPEN_STATUSES))}) ORDER BY id""",
        [since, *OPEN_STATUSES],
    )
