"""The operations map as data: which layers, which view, what a camera's panel shows.

Pure functions over the settings and a services snapshot; the page only reads widgets and
renders what these return.
"""

from __future__ import annotations

import html
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import pydeck as pdk
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from lawangjabo.cameras.registry import Camera
from lawangjabo.config import RiverFact, Settings, SiteFact
from lawangjabo.geo.districts import DistrictLayer
from lawangjabo.geo.geometry import fov_wedge, river_band
from lawangjabo.i18n import LANGUAGES, N_, Translator
from lawangjabo.server.services import Services, Snapshot
from lawangjabo.views.healthview import STATE_COLOURS, Tile, state_label
from lawangjabo.views.layers import (
    CAMERA_LAYER_ID,
    DENSE_CAMERAS,
    FOV_DENSE_MIN_ZOOM,
    FOV_LAYER_ID,
    build_deck,
    camera_layers,
    camera_rows,
    district_layers,
    fov_layer,
    river_layer,
    site_layers,
)
from lawangjabo.views.opsmap import (
    DECK_PATH,
    LAYER_KEYS,
    map_document,
    map_payload,
    map_version,
)

FOCUS_ZOOM = 16.0


@dataclass(frozen=True)
class LayerToggles:
    cameras: bool = True
    fov: bool = True
    sites: bool = True
    districts: bool = True
    river: bool = True


@lru_cache(maxsize=20_000)
def cached_wedge(
    lon: float, lat: float, heading: float, fov: float, range_m: float, crs: str
) -> BaseGeometry:
    return fov_wedge(lon, lat, heading, fov, range_m, crs)


@lru_cache(maxsize=8)
def _river(points: tuple[tuple[float, float], ...], width_m: float, crs: str) -> BaseGeometry:
    return river_band(points, width_m, crs)


def cached_river(river: RiverFact, crs: str) -> BaseGeometry:
    return _river(tuple((p.lon, p.lat) for p in river.centreline), river.width_m, crs)


def agency_names(settings: Settings) -> dict[str, str]:
    return {a.id: a.name for a in settings.agencies}


def agency_colours(settings: Settings) -> dict[str, list[int]]:
    return {a.id: list(a.colour) for a in settings.agencies}


def public_rows(settings: Settings, cameras: list[Camera]) -> list[dict[str, Any]]:
    names = agency_names(settings)
    return [c.public_row(names.get(c.props.owner, c.props.owner)) for c in cameras]


def district_label_points(
    settings: Settings, layer: DistrictLayer
) -> dict[str, tuple[float, float]]:
    """Where to write each district's name: its reference point if inside, else a point inside."""
    facts = {d.code: d for d in settings.city.districts}
    points: dict[str, tuple[float, float]] = {}
    for district in layer.districts:
        fact = facts.get(district.code)
        if fact and district.geometry.contains(Point(fact.point.lon, fact.point.lat)):
            points[district.code] = (fact.point.lon, fact.point.lat)
        else:
            rep = district.geometry.representative_point()
            points[district.code] = (rep.x, rep.y)
    return points


def map_camera_rows(
    settings: Settings,
    cameras: list[Camera],
    tiles: Mapping[str, Tile],
    translator: Translator | None = None,
) -> list[dict[str, Any]]:
    """Cameras coloured by health state, with tooltip text and their thumbnail's URL."""
    names = agency_names(settings)
    t = translator or Translator(settings.city.language, settings.city.timezone)
    rows = []
    for camera in cameras:
        tile = tiles.get(camera.id)
        state = tile.state if tile else "pending"
        rows.append(
            {
                "id": camera.id,
                "lon": camera.lon,
                "lat": camera.lat,
                "colour": STATE_COLOURS[state],
                # deck.gl puts tooltip values into HTML: escape what comes from files
                "title": html.escape(camera.props.name),
                "subtitle": html.escape(tile.caption(t) if tile else state_label(state, t)),
                "detail": html.escape(
                    f"{names.get(camera.props.owner, camera.props.owner)} · "
                    f"{camera.props.kecamatan or ''}"
                ),
                "thumb": f"/api/cameras/{camera.id}/thumb.jpg"
                if tile and tile.last_good_age_s is not None
                else None,
            }
        )
    return rows


def operations_deck(
    settings: Settings,
    snapshot: Snapshot,
    toggles: LayerToggles,
    cameras: list[Camera],
    selected_id: str | None = None,
    focus_id: str | None = None,
    tiles: Mapping[str, Tile] | None = None,
    translator: Translator | None = None,
) -> pdk.Deck:
    """The operator's map. ``focus_id`` flies the view to that camera."""
    crs = settings.city.metric_crs
    layers: list[pdk.Layer] = []
    if toggles.districts:
        t = translator or Translator(settings.city.language, settings.city.timezone)
        layers += district_layers(
            snapshot.districts,
            district_label_points(settings, snapshot.districts),
            t.gettext(APPROX),
        )
    if toggles.river and settings.city.river is not None:
        layers.append(river_layer(cached_river(settings.city.river, crs), settings.city.river.name))
    colours = agency_colours(settings)
    dense = len(cameras) >= DENSE_CAMERAS
    if toggles.fov:
        wedges = [
            (
                c.id,
                colours.get(c.props.owner, [120, 120, 120]),
                cached_wedge(
                    c.lon, c.lat, c.props.heading_deg, c.props.fov_deg, c.props.range_m, crs
                ),
            )
            for c in cameras
        ]
        layers.append(fov_layer(wedges, settings.map.fov_opacity, dense=dense))
    if toggles.sites:
        t = translator or Translator(settings.city.language, settings.city.timezone)
        layers += site_layers(
            settings.city.sites, zoom=settings.map.zoom, describe=site_description(t)
        )
    if toggles.cameras:
        rows = camera_rows(map_camera_rows(settings, cameras, tiles or {}, translator), selected_id)
        layers += camera_layers(rows, settings.map.camera_radius_px, dense=dense)
    focus = next((c for c in cameras if c.id == focus_id), None) if focus_id else None
    if focus is not None:
        return build_deck(layers, (focus.lon, focus.lat), settings.map, zoom=FOCUS_ZOOM)
    centre = settings.city.centre
    return build_deck(layers, (centre.lon, centre.lat), settings.map)


def map_query(toggles: LayerToggles, chosen: set[str], lang: str, version: str) -> str:
    """``/api/map/deck?…``: which layers, which agencies (none: all the account may see)."""
    layers = ",".join(k for k in LAYER_KEYS if getattr(toggles, k))
    query = urlencode({"layers": layers, "agencies": ",".join(sorted(chosen)), "lang": lang,
                       "v": version})  # fmt: skip
    return f"{DECK_PATH}?{query}"


def parse_map_query(query: Mapping[str, str]) -> tuple[LayerToggles, set[str], str | None]:
    layers = set(query.get("layers", ",".join(LAYER_KEYS)).split(","))
    toggles = LayerToggles(**{k: k in layers for k in LAYER_KEYS})
    chosen = {a for a in query.get("agencies", "").split(",") if a}
    return toggles, chosen, query.get("lang")


_documents: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
_documents_lock = threading.Lock()


def operations_map_document(
    services: Services, scope: tuple[str, ...], query: Mapping[str, str]
) -> bytes:
    """What ``GET /api/map/deck`` serves to an account limited to ``scope``: the deck of its
    visible cameras (of the agencies asked for), built once per version for all its viewers."""
    settings = services.settings
    toggles, chosen, lang = parse_map_query(query)
    lang = lang if lang in LANGUAGES else settings.city.language
    snapshot = services.snapshot()
    key = (services.snapshot_key(), scope, toggles, tuple(sorted(chosen)), lang)
    with _documents_lock:
        if key in _documents:
            _documents.move_to_end(key)
            return _documents[key]
    cameras = filter_cameras(services.visible_cameras(scope), chosen)
    translator = Translator(lang, settings.city.timezone)
    deck = operations_deck(settings, snapshot, toggles, cameras, tiles={}, translator=translator)
    names = agency_names(settings)
    rows = [[c.id, c.props.name, names.get(c.props.owner, c.props.owner), c.props.kecamatan or ""]
            for c in cameras]  # fmt: skip
    min_zoom = {FOV_LAYER_ID: FOV_DENSE_MIN_ZOOM} if len(cameras) >= DENSE_CAMERAS else {}
    document = map_document(json.loads(deck.to_json()), rows, CAMERA_LAYER_ID, min_zoom)
    with _documents_lock:
        _documents[key] = document
        while len(_documents) > 16:
            _documents.popitem(last=False)
    return document


def operations_map_data(
    services: Services,
    scope: tuple[str, ...],
    toggles: LayerToggles,
    chosen: set[str],
    tiles: Sequence[Tile],
    translator: Translator,
    *,
    selected: str | None,
    focus: str | None,
    bundle_url: str,
    can_refresh: bool,
) -> dict[str, Any]:
    """Everything the operations-map component gets with the page: where its map is (built
    on request, see :func:`operations_map_document`), the cameras' states, its texts."""
    version = map_version(services.snapshot_key(), scope, toggles, sorted(chosen), translator.lang)
    return map_payload(
        tiles,
        translator,
        deck_url=map_query(toggles, chosen, translator.lang, version),
        camera_layer=CAMERA_LAYER_ID,
        radius_px=services.settings.map.camera_radius_px,
        timezone=services.settings.city.timezone,
        selected=selected,
        focus=focus,
        bundle_url=bundle_url,
        can_refresh=can_refresh,
        can_live=services.settings.live.enabled,
    )


def filter_cameras(cameras: list[Camera], agencies: set[str] | None) -> list[Camera]:
    if not agencies:
        return cameras
    return [c for c in cameras if c.props.owner in agencies]


def camera_details(
    settings: Settings, camera: Camera, translator: Translator, provenance: bool = False
) -> dict[str, Any]:
    """What the details panel shows for one camera (public fields only; no stream URL). Where
    the record came from and its curator's note are for admins (``provenance``): an operator
    on shift needs the camera, not its sources."""
    _ = translator.gettext
    row = camera.public_row(agency_names(settings).get(camera.props.owner, camera.props.owner))
    estimated = set(camera.props.estimated)

    def mark(field: str, text: str) -> str:
        return _("{value} (estimate)").format(value=text) if field in estimated else text

    return {
        _("id"): row["id"],
        _("name"): row["name"],
        _("agency"): row["agency"],
        settings.city.district_label: row["kecamatan"] or "—",
        _("kind"): _(row["kind"]),
        _("position"): mark("position", f"{camera.lat:.5f}, {camera.lon:.5f}"),
        _("heading"): mark("heading_deg", f"{row['heading_deg']:.0f}°"),
        _("field of view"): mark("fov_deg", f"{row['fov_deg']:.0f}°"),
        _("range"): mark("range_m", f"{row['range_m']:.0f} m"),
        _("stream"): (
            _("configured ({protocol})").format(protocol=camera.props.stream.protocol.upper())
            if camera.props.stream
            else _("none known")
        ),
        _("scope"): _(row["scope"]),
        _("confidence"): _(row["confidence"]),
        _("verified"): _("yes") if row["verified"] else _("no"),
        **({_("source"): row["source"]} if provenance else {}),
        _("note"): (camera.props.note or "") if provenance else "",
    }


SITE_KINDS = {  # the strategic sites' categories in the city file, for the catalog
    "heritage": N_("heritage"), "religious": N_("place of worship"), "bridge": N_("bridge"),
    "command-center": N_("command center"), "market": N_("market"), "stadium": N_("stadium"),
    "airport": N_("airport"), "park": N_("park"), "rail": N_("railway station"),
    "port": N_("port"),
}  # fmt: skip


def site_description(translator: Translator) -> Callable[[SiteFact], str]:
    """A strategic site's tooltip line in the viewer's language: 'lokasi strategis · pasar'."""
    _ = translator.gettext
    label = _("strategic site")

    def describe(site: SiteFact) -> str:
        kind = SITE_KINDS.get(site.category)
        return f"{label} · {_(kind) if kind else site.category}"

    return describe


# Values shown through ``_(value)`` above, for the catalog.
APPROX = N_("approx.")  # an approximate district's label mark
_VALUES = (N_("fixed"), N_("ptz"), N_("publik"), N_("internal"), N_("high"), N_("medium"),
           N_("low"))  # fmt: skip


def brief_deck(
    settings: Settings,
    snapshot: Snapshot,
    cameras: list[Camera],
    tiles: Mapping[str, Tile],
    translator: Translator,
) -> pdk.Deck:
    """The phone's compact map: districts, the river and cameras by state, and no basemap
    tiles (on a slow link they would cost more than everything else on the page)."""
    layers: list[pdk.Layer] = district_layers(snapshot.districts, {})
    if settings.city.river is not None:
        layers.append(
            river_layer(
                cached_river(settings.city.river, settings.city.metric_crs),
                settings.city.river.name,
            )
        )
    plain = map_camera_rows(settings, cameras, tiles, translator)
    for row in plain:
        row["thumb"] = None  # no picture fetches from the phone's map tooltip
    layers += camera_layers(camera_rows(plain), settings.map.camera_radius_px)
    centre = settings.city.centre
    config = settings.map.model_copy(update={"basemap": "none", "pitch": 0})
    return build_deck(layers, (centre.lon, centre.lat), config, zoom=settings.map.zoom - 0.6)
