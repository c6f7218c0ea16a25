"""Map layers as pure functions: data in, pydeck objects out. No I/O, no UI state.

Every layer has an ``id`` (the UI's selection needs it). Pickable rows carry the same three
tooltip fields (``title``, ``subtitle``, ``detail``) so one tooltip template serves all layers.
Camera rows come from :meth:`Camera.public_row`, which never holds a stream.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from lawangjabo.config import MapConfig, SiteFact
from lawangjabo.geo.districts import DistrictLayer

CAMERA_LAYER_ID = "cameras"
CAMERA_DOTS_ID = "camera-dots"
SELECTION_RING_PX = 6
SITE_LABEL_PX = 13
# pydeck turns bare string arguments into accessor expressions; quotes keep a literal.
PIXELS = "'pixels'"
FONT = "'Source Sans Pro, Helvetica, Arial, sans-serif'"
# A transparent pixel: rows without a thumbnail (sites) still fill the template's <img>.
NO_IMAGE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
TOOLTIP = {
    "html": "<img src='{thumb}' style='max-width:240px;display:block;margin-bottom:4px'/>"
    "<b>{title}</b><br/>{subtitle}<br/><span style='opacity:.8'>{detail}</span>",
    "style": {"fontSize": "12px", "maxWidth": "260px"},
}
CARTO_STYLES = {
    "light": "https://basemaps.cartocdn.com/gl/positron-gl-style/style.json",
    "dark": "https://basemaps.cartocdn.com/gl/dark-matter-gl-style/style.json",
    "road": "https://basemaps.cartocdn.com/gl/voyager-gl-style/style.json",
}
SITE_COLOUR = [17, 17, 17]
SELECTED_COLOUR = [255, 215, 0]
RIVER_COLOUR = [90, 160, 215, 200]
DISTRICT_PALETTE = (
    [232, 238, 226],
    [240, 233, 220],
    [226, 233, 240],
    [238, 226, 236],
    [228, 240, 236],
    [243, 238, 214],
)


def _round(value: float, digits: int = 6) -> float:
    return round(float(value), digits)


def _rings(geom: BaseGeometry) -> list[list[list[float]]]:
    """Exterior rings of a (multi)polygon as [[lon, lat], …] lists, rounded for compact JSON."""
    polys: list[Polygon]
    if isinstance(geom, Polygon):
        polys = [geom]
    elif isinstance(geom, MultiPolygon):
        polys = list(geom.geoms)
    else:
        polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    return [[[_round(x), _round(y)] for x, y, *_ in p.exterior.coords] for p in polys]


def camera_rows(
    cameras: Sequence[Mapping[str, Any]],
    selected_id: str | None = None,
) -> list[dict[str, Any]]:
    """Camera rows for the map. Each input has id, lon, lat, colour, title, subtitle, detail and
    (optionally) thumb, the URL of its thumbnail on our own server."""
    rows = []
    for row in cameras:
        rows.append(
            {
                "id": row["id"],
                "position": [_round(row["lon"]), _round(row["lat"])],
                "colour": [*list(row["colour"])[:3], 255],
                "line": SELECTED_COLOUR if row["id"] == selected_id else [255, 255, 255],
                "scale": 1.7 if row["id"] == selected_id else 1.0,
                "title": row["title"],
                "subtitle": row["subtitle"],
                "detail": row["detail"],
                "thumb": row.get("thumb") or NO_IMAGE,
            }
        )
    return rows


DENSE_CAMERAS = 300  # from this many cameras on a map, dots are sized by zoom
DENSE_RADIUS_M = 30
DENSE_MIN_PX = 3


def camera_layers(
    rows: Sequence[Mapping[str, Any]],
    radius_px: int,
    layer_id: str = CAMERA_LAYER_ID,
    dense: bool = False,
) -> list[pdk.Layer]:
    """Cameras as two layers: a pickable target (``layer_id``) under the visible dots.

    The target is all but transparent and a few pixels wider than the dot, so a finger finds
    it; the dots on top carry the health colours and the selection ring (``camera_rows``).
    ``dense`` (thousands of cameras): dots are sized in metres, between a few pixels and
    ``radius_px``, so the whole city is not one blob and a street view not a wall of dots.
    """
    data = list(rows)
    size: dict[str, Any] = (
        {
            "radius_units": "'meters'",
            "radius_min_pixels": DENSE_MIN_PX,
            "radius_max_pixels": radius_px,
        }
        if dense
        else {"radius_units": PIXELS}
    )
    radius = DENSE_RADIUS_M if dense else radius_px
    target = pdk.Layer(
        "ScatterplotLayer",
        id=layer_id,
        data=data,
        get_position="position",
        get_fill_color=[*SELECTED_COLOUR, 1],
        stroked=False,
        get_radius=f"scale * {radius}" + ("" if dense else f" + {SELECTION_RING_PX}"),
        pickable=True,
        auto_highlight=True,
        **size,
    )
    dots = pdk.Layer(
        "ScatterplotLayer",
        id=CAMERA_DOTS_ID,
        # what drawing needs only: the tooltip fields travel once, with the target
        data=[{k: row[k] for k in ("position", "colour", "line", "scale")} for row in data],
        get_position="position",
        get_fill_color="colour",
        get_line_color="line",
        stroked=True,
        line_width_min_pixels=1 if dense else 2,
        get_radius=f"scale * {radius}",
        pickable=False,
        **size,
    )
    return [target, dots]


# Thousands of wedges: drawn only from this zoom on (at the city's zoom they are one smear, and
# in software WebGL a frame of 2,000 outlined wedges took 1.3-1.8 s), and without outlines.
FOV_DENSE_MIN_ZOOM = 14.0
FOV_LAYER_ID = "camera-fov"


def fov_layer(
    wedges: Sequence[tuple[str, Sequence[int], BaseGeometry]], opacity: int, dense: bool = False
) -> pdk.Layer:
    """Field-of-view wedges: (camera id, agency colour, wedge polygon); ``dense`` (thousands
    of cameras): fills only (see :data:`FOV_DENSE_MIN_ZOOM` for when they are drawn)."""
    data = [
        {"id": cam_id, "polygon": ring, "colour": [*list(colour)[:3], opacity]}
        for cam_id, colour, wedge in wedges
        for ring in _rings(wedge)
    ]
    return pdk.Layer(
        "PolygonLayer",
        id=FOV_LAYER_ID,
        data=data,
        get_polygon="polygon",
        get_fill_color="colour",
        get_line_color=[60, 60, 60, 120],
        line_width_min_pixels=1,
        stroked=not dense,
        pickable=False,
    )


def _mercator_px(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    """Web-Mercator pixel position at ``zoom`` (deck.gl's 512-px world)."""
    scale = 512 * 2**zoom
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return (lon + 180) / 360 * scale, (1 - y / math.pi) / 2 * scale


def declutter(
    labels: Sequence[tuple[str, float, float]], zoom: float, size_px: float = SITE_LABEL_PX
) -> list[bool]:
    """Which of ``labels`` (text, lon, lat; most important first) to draw so that none overlaps
    another at ``zoom``: each is kept unless its box, drawn above its point, touches a kept one.
    (deck.gl's collision filter tests a label at its anchor, so it hid labels drawn above it.)"""
    kept: list[tuple[float, float, float, float]] = []
    shown = []
    for text, lon, lat in labels:
        x, y = _mercator_px(lon, lat, zoom)
        half = len(text) * size_px * 0.3 + 4  # ~0.6 em per character, and a margin
        box = (x - half, y - 18 - size_px, x + half, y - 18 + size_px * 0.6)
        free = all(box[2] < k[0] or box[0] > k[2] or box[3] < k[1] or box[1] > k[3] for k in kept)
        if free:
            kept.append(box)
        shown.append(free)
    return shown


def site_layers(
    sites: Sequence[SiteFact],
    zoom: float | None = None,
    describe: Callable[[SiteFact], str] = lambda s: f"site · {s.category}",
) -> list[pdk.Layer]:
    """Strategic sites: a marker each, and a label where it does not overlap another at
    ``zoom`` (every label when ``zoom`` is None); the marker's tooltip always names it."""
    shown = (
        declutter([(s.name, s.point.lon, s.point.lat) for s in sites], zoom)
        if zoom is not None
        else [True] * len(sites)
    )
    data = [
        {
            "id": s.id,
            "position": [_round(s.point.lon), _round(s.point.lat)],
            "label": s.name,
            "title": s.name,
            "subtitle": describe(s),
            "detail": s.source,
            "thumb": NO_IMAGE,
        }
        for s in sites
    ]
    markers = pdk.Layer(
        "ScatterplotLayer",
        id="sites",
        data=data,
        get_position="position",
        get_fill_color=[255, 255, 255, 230],
        get_line_color=SITE_COLOUR,
        stroked=True,
        line_width_min_pixels=3,
        radius_units=PIXELS,
        get_radius=9,
        pickable=True,
    )
    labels = pdk.Layer(
        "TextLayer",
        id="site-labels",
        data=[row for row, show in zip(data, shown, strict=True) if show],
        get_position="position",
        get_text="label",
        get_size=SITE_LABEL_PX,
        get_color=SITE_COLOUR,
        get_pixel_offset=[0, -18],
        font_weight=700,
        font_family=FONT,
        outline_width=3,
        outline_color=[255, 255, 255, 255],
        font_settings={"sdf": True},
        pickable=False,
    )
    return [markers, labels]


def river_layer(river: BaseGeometry, name: str) -> pdk.Layer:
    data = [{"polygon": ring, "name": name} for ring in _rings(river)]
    return pdk.Layer(
        "PolygonLayer",
        id="river",
        data=data,
        get_polygon="polygon",
        get_fill_color=RIVER_COLOUR,
        stroked=False,
        pickable=False,
    )


def district_layers(
    layer: DistrictLayer,
    label_points: Mapping[str, tuple[float, float]],
    approx_mark: str = "approx.",
) -> list[pdk.Layer]:
    """District polygons (filled, outlined) and their names; approximate ones say so
    (``approx_mark``, in the viewer's language)."""
    suffix = "" if layer.official else f" ({approx_mark})"
    polygons = [
        {
            "code": d.code,
            "polygon": ring,
            "fill": [*DISTRICT_PALETTE[i % len(DISTRICT_PALETTE)], 150],
        }
        for i, d in enumerate(layer.districts)
        for ring in _rings(d.geometry)
    ]
    labels = [
        {
            "code": d.code,
            "position": [_round(label_points[d.code][0]), _round(label_points[d.code][1])],
            "label": f"{d.name}{suffix}",
        }
        for d in layer.districts
        if d.code in label_points
    ]
    return [
        pdk.Layer(
            "PolygonLayer",
            id="districts",
            data=polygons,
            get_polygon="polygon",
            get_fill_color="fill",
            get_line_color=[110, 110, 110, 200],
            line_width_min_pixels=1,
            get_line_width=1,
            stroked=True,
            pickable=False,
        ),
        pdk.Layer(
            "TextLayer",
            id="district-labels",
            data=labels,
            get_position="position",
            get_text="label",
            get_size=12,
            font_family=FONT,
            get_color=[80, 80, 80, 230],
            font_settings={"sdf": True},
            outline_width=2,
            outline_color=[255, 255, 255, 220],
            pickable=False,
        ),
    ]


def basemap_kwargs(config: MapConfig) -> dict[str, Any]:
    """pydeck Deck arguments for the configured basemap.

    ``none`` must leave ``map_style`` unset with no provider, otherwise Carto is fetched anyway.
    """
    if config.basemap == "none":
        return {"map_provider": None}
    if config.basemap == "carto":
        return {"map_provider": "carto", "map_style": CARTO_STYLES[config.carto_style]}
    return {"map_provider": None, "map_style": config.basemap}


class CompactDeck(pdk.Deck):  # type: ignore[misc]
    """A deck whose JSON has no indentation (pydeck indents by two spaces, which more than
    doubled every map sent to the browser: 380 bytes per heatmap cell)."""

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


def build_deck(
    layers: Sequence[pdk.Layer],
    centre: tuple[float, float],
    config: MapConfig,
    zoom: float | None = None,
    tooltip: Mapping[str, Any] | None = None,
) -> pdk.Deck:
    """The deck: layers bottom-up, view on ``centre`` (lon, lat), one tooltip for all layers."""
    view = pdk.ViewState(
        longitude=_round(centre[0]),
        latitude=_round(centre[1]),
        zoom=config.zoom if zoom is None else zoom,
        pitch=config.pitch,
        bearing=0,
    )
    return CompactDeck(
        layers=list(layers),
        # No double-click zoom: deck.gl would hold every click ~300 ms to see whether a second
        # one follows, and an operator's click on a camera must answer at once.
        views=[{"@@type": "MapView", "controller": {"doubleClickZoom": False}}],
        initial_view_state=view,
        tooltip=dict(tooltip or TOOLTIP),
        **basemap_kwargs(config),
    )


def _ramp(value: float, top: float) -> list[int]:
    """Yellow → red by value/top (perceptually ordered, readable on light and dark maps)."""
    t = 0.0 if top <= 0 else min(1.0, value / top) ** 0.6
    return [255, int(230 - 200 * t), int(120 - 110 * t), int(90 + 150 * t)]


def hex_layer(
    cells: Sequence[Mapping[str, Any]],
    layer_id: str = "incident-hexes",
    title: str = "{n} incidents",
) -> pdk.Layer:
    """Aggregated incident counts per H3 cell (``hex``, ``count``), coloured by count. Rows
    carry only what is drawn and the tooltip's title (``title``, translated by the caller):
    hundreds of cells go to the browser on every filter change."""
    top = max((float(c["count"]) for c in cells), default=0.0)
    data = [
        {
            "hex": c["hex"],
            "colour": _ramp(float(c["count"]), top),
            "title": title.format(n=int(c["count"])),
        }
        for c in cells
    ]
    return pdk.Layer(
        "H3HexagonLayer",
        id=layer_id,
        data=data,
        get_hexagon="hex",
        get_fill_color="colour",
        get_line_color=[255, 255, 255, 80],
        line_width_min_pixels=0,
        extruded=False,
        pickable=True,
        stroked=False,
    )


def choropleth_layer(layer: DistrictLayer, values: Mapping[str, float], label: str) -> pdk.Layer:
    """Districts filled by a value (e.g. incidents per km²)."""
    top = max(values.values(), default=0.0)
    data = [
        {
            "polygon": ring,
            "colour": _ramp(values.get(d.name, 0.0), top),
            "title": d.name,
            "subtitle": f"{values.get(d.name, 0.0):g} {label}",
            "detail": "",
            "thumb": NO_IMAGE,
        }
        for d in layer.districts
        for ring in _rings(d.geometry)
    ]
    return pdk.Layer(
        "PolygonLayer",
        id="choropleth",
        data=data,
        get_polygon="polygon",
        get_fill_color="colour",
        get_line_color=[90, 90, 90, 200],
        line_width_min_pixels=1,
        stroked=True,
        pickable=True,
    )


def suggestion_layer(sites: Sequence[Mapping[str, Any]]) -> pdk.Layer:
    """Proposed new camera sites (``lon``, ``lat``, ``gain``, ``rank``)."""
    data = [
        {
            "position": [_round(s["lon"]), _round(s["lat"])],
            "title": f"New camera #{s['rank']}",
            "subtitle": f"would cover {s['gain']} more incidents",
            "detail": "",
            "thumb": NO_IMAGE,
        }
        for s in sites
    ]
    return pdk.Layer(
        "ScatterplotLayer",
        id="camera-suggestions",
        data=data,
        get_position="position",
        get_fill_color=[0, 160, 255, 230],
        get_line_color=[0, 0, 0],
        stroked=True,
        line_width_min_pixels=2,
        radius_units=PIXELS,
        get_radius=9,
        pickable=True,
    )


def pick_grid_layer(cells: Sequence[str], picked: str | None = None) -> list[pdk.Layer]:
    """An invisible grid of H3 cells to click on (where a new incident goes), and the picked
    cell. Rows hold only the cell id: thousands of them stay small."""
    grid = pdk.Layer(
        "H3HexagonLayer",
        id="pick-grid",
        data=[{"hex": c} for c in cells],
        get_hexagon="hex",
        get_fill_color=[0, 0, 0, 1],
        stroked=False,
        extruded=False,
        pickable=True,
        auto_highlight=True,
        highlight_color=[255, 120, 0, 140],
    )
    chosen = pdk.Layer(
        "H3HexagonLayer",
        id="picked-cell",
        data=[{"hex": picked}] if picked else [],
        get_hexagon="hex",
        get_fill_color=[255, 80, 0, 220],
        stroked=False,
        extruded=False,
        pickable=False,
    )
    return [grid, chosen]
