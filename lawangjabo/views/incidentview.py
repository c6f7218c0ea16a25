"""Incidents as the Incidents and Analytics pages show them (pure; pages only render)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import h3
import numpy as np
import pydeck as pdk

from lawangjabo.cameras.ledger import states_at
from lawangjabo.cameras.registry import Camera
from lawangjabo.geo.districts import DistrictLayer
from lawangjabo.geo.geometry import to_metric
from lawangjabo.i18n import N_, Translator
from lawangjabo.incidents.analytics import (
    Filters,
    choropleth,
    daily,
    heatmap,
    hotspots,
    hour_weekday,
    placed_points,
    total,
)
from lawangjabo.incidents.coverage import Coverage, coverage, greedy_sites
from lawangjabo.incidents.evidence import Witness, witnesses
from lawangjabo.incidents.scope import CameraScope
from lawangjabo.incidents.store import TRANSITIONS
from lawangjabo.server.services import Services
from lawangjabo.views.layers import (
    build_deck,
    camera_layers,
    camera_rows,
    choropleth_layer,
    district_layers,
    hex_layer,
    pick_grid_layer,
    river_layer,
    site_layers,
    suggestion_layer,
)
from lawangjabo.views.mapview import (
    APPROX,
    cached_river,
    district_label_points,
    map_camera_rows,
    site_description,
)

WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
MAP_MODES = (N_("hexagons"), N_("per km²"))
HEX_TITLE = N_("{n} incidents")
TITLE_TOOLTIP = {"html": "<b>{title}</b>", "style": {"fontSize": "12px"}}


@dataclass
class PlannerView:
    total: int
    previous_total: int
    cells: list[dict[str, Any]]
    districts: list[dict[str, Any]]
    matrix: list[list[int]]
    days: list[dict[str, Any]]
    hotspots: list[dict[str, Any]]
    coverage: Coverage
    suggestions: list[dict[str, Any]]
    deck: pdk.Deck


def planner_view(
    services: Services,
    filters: Filters,
    resolution: int,
    mode: str,
    near_m: float,
    suggestions: int,
    cameras: list[Camera],
    translator: Translator | None = None,
) -> PlannerView:
    """The planner's figures and map; coverage, suggestions and the cameras drawn are those of
    ``cameras`` (the account's visible ones: another agency's internal camera is neither drawn
    nor counted as seeing anything)."""
    store = services.incidents()
    assert store is not None
    db, settings = store.db, services.settings
    cells = heatmap(db, filters, resolution)
    layer = level_layer(services, filters.level)
    if filters.level == "kecamatan":
        areas = {d.name: d.area_km2 or 0.0 for d in settings.city.districts}
    else:
        areas = place_areas(layer, settings.city.metric_crs)
    districts = choropleth(db, filters, areas)
    lon, lat, places = placed_points(db, filters)
    cov = coverage(lon, lat, cameras, settings.city.metric_crs, near_m)
    unseen = unseen_by_place(places, cov.uncovered)
    for row in districts:
        row["unseen_pct"] = unseen.get(row[filters.level])
    blind_lon = np.asarray(lon)[cov.uncovered]
    blind_lat = np.asarray(lat)[cov.uncovered]
    sites = [
        {
            "rank": i + 1,
            "lon": round(s.lon, 5),
            "lat": round(s.lat, 5),
            "gain": s.gain,
            "cumulative": s.cumulative,
        }
        for i, s in enumerate(
            greedy_sites(
                blind_lon,
                blind_lat,
                settings.city.metric_crs,
                suggestions,
                settings.incidents.coverage_radius_m,
            )
        )
    ]
    layers: list[pdk.Layer] = []
    if mode == "per km²":
        layers.append(
            choropleth_layer(
                layer,
                {r[filters.level]: r["per_km2"] or 0.0 for r in districts},
                "incidents/km²",
            )
        )
    else:
        t = translator or Translator(settings.city.language, settings.city.timezone)
        layers.append(hex_layer(cells, title=t.gettext(HEX_TITLE)))
    if settings.city.river is not None:
        layers.append(
            river_layer(
                cached_river(settings.city.river, settings.city.metric_crs),
                settings.city.river.name,
            )
        )
    layers += camera_layers(camera_rows(map_camera_rows(settings, cameras, {})), 5)
    layers.append(suggestion_layer(sites))
    centre = settings.city.centre
    # A title-only tooltip: hexagons carry no thumbnail, subtitle or detail (bytes per cell).
    deck = build_deck(layers, (centre.lon, centre.lat), settings.map, tooltip=TITLE_TOOLTIP)
    return PlannerView(
        total=total(db, filters),
        previous_total=total(db, filters.previous()),
        cells=cells,
        districts=districts,
        matrix=hour_weekday(db, filters),
        days=daily(db, filters, settings.city.timezone),
        hotspots=hotspots(db, filters),
        coverage=cov,
        suggestions=sites,
        deck=deck,
    )


def level_layer(services: Services, level: str) -> DistrictLayer:
    """The polygons of a level: the districts (official or approximate), or the finer level's
    official ones (empty when not installed: it has no approximation)."""
    snap = services.snapshot()
    if level == "kecamatan":
        return snap.districts
    return snap.sublevel or DistrictLayer([], official=False, source="not installed")


def place_areas(layer: DistrictLayer, crs: str) -> dict[str, float]:
    """Each place's area in km², measured in the city's metric CRS."""
    return {d.name: round(to_metric(d.geometry, crs).area / 1e6, 3) for d in layer.districts}


def unseen_by_place(places: list[str | None], uncovered: Any) -> dict[str, float]:
    """The share (%) of each place's incidents that no camera sees (``uncovered``: the
    indices of those incidents)."""
    blind_mask = np.zeros(len(places), dtype=bool)
    blind_mask[np.asarray(uncovered, dtype=np.int64)] = True
    counts: dict[str, list[int]] = {}
    for place, blind in zip(places, blind_mask.tolist(), strict=True):
        if place is not None:
            seen = counts.setdefault(place, [0, 0])
            seen[0] += 1
            seen[1] += int(blind)
    return {p: round(100 * b / n, 1) for p, (n, b) in counts.items()}


def matrix_rows(matrix: list[list[int]]) -> list[dict[str, Any]]:
    return [
        {"weekday": WEEKDAYS[d], "hour": h, "count": matrix[d][h]}
        for d in range(7)
        for h in range(24)
    ]


def next_statuses(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


def incident_list(
    services: Services, filters: Filters, scope: CameraScope, limit: int = 500
) -> list[dict[str, Any]]:
    """The newest incidents ``filters`` select, their nearest camera as ``scope`` allows."""
    store = services.incidents()
    assert store is not None
    names = (
        "id",
        "occurred_at",
        "category",
        "priority",
        "status",
        "kecamatan",
        *(("kelurahan",) if services.snapshot().sublevel is not None else ()),
        "lead_agency",
        "nearest_camera",
        "camera_distance_m",
        "source",
    )
    rows = store.listing(filters, (*names, "lon", "lat"), limit=limit)
    records = scope.records([dict(zip((*names, "lon", "lat"), r, strict=True)) for r in rows])
    return [{k: r[k] for k in names} for r in records]


def incident_witnesses(
    services: Services, incident: dict[str, Any], cameras: list[Camera]
) -> list[Witness]:
    """Was it on camera? The ``cameras`` (an account's visible ones) covering the incident's
    spot at its time, best first; states unknown while the ledger cannot be read."""
    when = incident["occurred_at"]
    settings = services.settings
    gap = 3 * max(settings.cameras.interval_s, settings.cameras.timeout_s)
    db = services.ledger_db()
    states: dict[str, str] = {}
    if db is not None:
        try:
            states = states_at(db, [c.id for c in cameras], when, gap)
        except Exception:  # the ledger unreadable (PostgreSQL away): states stay unknown
            states = {}
    return witnesses(incident["lon"], incident["lat"], when, cameras, settings.city.metric_crs,
                     states, services.store.at)  # fmt: skip


PICK_HINT = N_("Click: put the new incident here")


@lru_cache(maxsize=4)
def pick_cells(
    west: float, south: float, east: float, north: float, res: int = 8
) -> tuple[str, ...]:
    """The H3 cells covering the city's bbox (~0.7 km² each at resolution 8: light enough to
    send on every rerun; the form's coordinates then refine the place)."""
    shape = h3.LatLngPoly([(south, west), (south, east), (north, east), (north, west)])
    return tuple(sorted(h3.h3shape_to_cells(shape, res)))


def pick_deck(
    services: Services,
    picked: str | None,
    cameras: list[Camera],
    translator: Translator,
) -> pdk.Deck:
    """A map to click a new incident's place on, complete with no internet: districts, the
    river, strategic sites, the account's cameras and the clickable grid (no basemap)."""
    settings = services.settings
    box = settings.city.bbox
    snap = services.snapshot()
    layers = district_layers(
        snap.districts,
        district_label_points(settings, snap.districts),
        translator.gettext(APPROX),
    )
    layers += pick_grid_layer(pick_cells(box.west, box.south, box.east, box.north), picked)
    if settings.city.river is not None:
        layers.append(
            river_layer(
                cached_river(settings.city.river, settings.city.metric_crs),
                settings.city.river.name,
            )
        )
    layers += site_layers(
        settings.city.sites, zoom=settings.map.zoom, describe=site_description(translator)
    )
    layers += camera_layers(camera_rows(map_camera_rows(settings, cameras, {}, translator)), 5)
    centre = settings.city.centre
    return build_deck(
        layers,
        (centre.lon, centre.lat),
        settings.map.model_copy(update={"basemap": "none", "pitch": 0}),
        tooltip={"text": translator.gettext(PICK_HINT)},
    )


def cell_centre(cell: str) -> tuple[float, float]:
    """(lat, lon) of an H3 cell's centre."""
    lat, lon = h3.cell_to_latlng(cell)
    return float(lat), float(lon)
