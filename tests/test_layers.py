"""Layer builders against golden JSON (regenerate with UPDATE_GOLDEN=1 and review the diff)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pydeck as pdk
import pytest
from shapely.geometry import Polygon, box

from lawangjabo.config import LatLon, MapConfig, SiteFact
from lawangjabo.geo.districts import District, DistrictLayer
from lawangjabo.views.layers import (
    build_deck,
    camera_layers,
    camera_rows,
    district_layers,
    fov_layer,
    river_layer,
    site_layers,
)

GOLDEN = Path(__file__).parent / "golden"
ROWS = [
    {
        "id": "cam-a",
        "title": "Cam A",
        "subtitle": "ONLINE · 4 s ago",
        "detail": "Dishub · Bukit Kecil",
        "colour": [26, 150, 65],
        "thumb": "/api/cameras/cam-a/thumb.jpg",
        "lon": 104.761271234,
        "lat": -2.991301234,
    },
    {
        "id": "cam-b",
        "title": "Cam B",
        "subtitle": "not polled yet",
        "detail": "? · ",
        "colour": [170, 170, 170],
        "lon": 104.75,
        "lat": -2.98,
    },
]
WEDGE = Polygon([(104.76, -2.99), (104.761, -2.989), (104.761, -2.991), (104.76, -2.99)])
SITE = SiteFact(
    id="bkb",
    name="BKB",
    category="heritage",
    point=LatLon(lat=-2.99141, lon=104.75916),
    source="test",
)


def _spec(layers: list[pdk.Layer]) -> Any:
    return json.loads(pdk.Deck(layers=layers, map_provider=None).to_json())["layers"]


def _check(name: str, spec: Any) -> None:
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert path.is_file(), f"golden file {path.name} missing: run with UPDATE_GOLDEN=1"
    assert spec == json.loads(path.read_text(encoding="utf-8"))


def test_camera_layer() -> None:
    rows = camera_rows(ROWS, selected_id="cam-b")
    assert rows[1]["thumb"].startswith("data:image/gif")  # no picture yet: transparent pixel
    assert [r["scale"] for r in rows] == [1.0, 1.7]
    _check("camera_layer", _spec(camera_layers(rows, radius_px=7)))


def test_camera_layer_radius_is_in_pixels() -> None:
    spec = _spec(camera_layers(camera_rows(ROWS), radius_px=7))[0]
    assert spec["radiusUnits"] == "pixels"  # a bare string would become an accessor


def test_fov_layer() -> None:
    _check("fov_layer", _spec([fov_layer([("cam-a", [230, 159, 0], WEDGE)], opacity=60)]))


def test_site_layers() -> None:
    _check("site_layers", _spec(site_layers([SITE])))


def test_river_layer() -> None:
    _check("river_layer", _spec([river_layer(box(104.7, -3.0, 104.8, -2.99), "Musi")]))


@pytest.mark.parametrize("official", [False, True])
def test_district_layers(official: bool) -> None:
    layer = DistrictLayer(
        [District("16.71.11", "Bukit Kecil", box(104.74, -2.995, 104.76, -2.98))],
        official=official,
        source="test",
    )
    spec = _spec(district_layers(layer, {"16.71.11": (104.75239, -2.98748)}))
    label = spec[1]["data"][0]["label"]
    assert label == ("Bukit Kecil" if official else "Bukit Kecil (approx.)")
    _check(f"district_layers_{'official' if official else 'approx'}", spec)


@pytest.mark.parametrize(
    ("basemap", "provider", "style"),
    [
        ("carto", "carto", "positron"),
        ("none", None, None),
        ("/app/static/style.json", None, "/app/static/style.json"),
    ],
)
def test_basemap_choice(basemap: str, provider: str | None, style: str | None) -> None:
    deck = json.loads(build_deck([], (104.74, -2.97), MapConfig(basemap=basemap)).to_json())
    assert deck.get("mapProvider") == provider
    if style is None:
        # Leaving the style unset (pydeck's sentinel) is the only way to fetch nothing;
        # map_style=None would still fetch Carto. The browser test checks the requests.
        assert "://" not in str(deck.get("mapStyle"))
    else:
        assert style in deck["mapStyle"]


def test_deck_view_and_tooltip() -> None:
    deck = json.loads(build_deck([], (104.74132, -2.97172), MapConfig(zoom=11.4)).to_json())
    assert deck["initialViewState"] == {
        "bearing": 0,
        "latitude": -2.97172,
        "longitude": 104.74132,
        "pitch": 0.0,
        "zoom": 11.4,
    }
    zoomed = json.loads(build_deck([], (104.0, -3.0), MapConfig(), zoom=16).to_json())
    assert zoomed["initialViewState"]["zoom"] == 16


def test_tooltip_values_from_files_are_escaped() -> None:
    """deck.gl writes tooltip values into HTML: a camera name from a registry file must not
    become markup in an operator's browser."""
    import dataclasses

    from lawangjabo.cameras.registry import load_registry
    from lawangjabo.config import PROJECT_ROOT, load_settings
    from lawangjabo.views.mapview import map_camera_rows

    settings = load_settings()
    camera = load_registry(PROJECT_ROOT / "cameras.geojson", settings).cameras[0]
    evil = dataclasses.replace(
        camera,
        props=camera.props.model_copy(update={"name": "<img src=x onerror=alert(1)>"}),
    )
    (row,) = map_camera_rows(settings, [evil], {})
    assert row["title"] == "&lt;img src=x onerror=alert(1)&gt;"


def test_crowded_site_labels_are_decluttered() -> None:
    """Labels that would overlap at the map's zoom are left out (the marker's tooltip still
    names the site); a label far away stays."""
    from lawangjabo.views.layers import declutter

    labels = [
        ("Benteng Kuto Besak (BKB)", 104.7606, -2.9925),
        ("Masjid Agung SMB I", 104.7612, -2.9897),  # 300 m north: overlaps at zoom 12
        ("Jakabaring Sport City", 104.7910, -3.0150),
    ]
    assert declutter(labels, zoom=12.0) == [True, False, True]
    assert declutter(labels, zoom=17.0) == [True, True, True]  # close enough to read apart


def test_the_map_component_gets_states_apart_from_the_deck() -> None:
    """A camera's state row: the label in the viewer's language, the picture's time (its age
    is worked out in the browser); the ETag changes with a state, not with the clock."""
    from datetime import UTC, datetime

    from lawangjabo.i18n import Translator
    from lawangjabo.views.healthview import Tile
    from lawangjabo.views.opsmap import camera_state, component_texts, states_etag

    taken = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
    online = Tile("cam-a", "A", "Dishub", "Ilir Timur I", "online", 12.0, None, taken)
    down = Tile("cam-b", "B", "Dishub", "Ilir Timur I", "offline", None, "timeout", None)
    t = Translator("id", "Asia/Jakarta")
    assert camera_state(online, t) == ["cam-a", "online", "AKTIF", taken.timestamp()]
    assert camera_state(down, t)[1:] == ["offline", "MATI · " + t.gettext("timeout"), None]
    one = states_etag([camera_state(online, t)])
    assert one == states_etag([camera_state(online, t)])
    assert one != states_etag([camera_state(down, t)])
    texts = component_texts(t)
    assert texts["s_ago"] == t.gettext("{n} s ago") != "{n} s ago"  # translated, placeholders kept
    assert all(texts.values())


def test_dense_cameras_size_by_zoom() -> None:
    """Thousands of cameras: dots sized in metres, clamped between a few pixels and the
    configured size, so a city view is not one blob and a street view is not huge."""
    from lawangjabo.views.layers import camera_layers, camera_rows

    rows = camera_rows(ROWS)
    sparse = _spec(camera_layers(rows, 7))
    dense = _spec(camera_layers(rows, 7, dense=True))
    assert [layer["radiusUnits"] for layer in sparse] == ["pixels", "pixels"]
    assert [layer["radiusUnits"] for layer in dense] == ["meters", "meters"]
    assert all(layer["radiusMinPixels"] == 3 and layer["radiusMaxPixels"] == 7 for layer in dense)
    assert [layer["data"] for layer in dense] == [layer["data"] for layer in sparse]


def test_dense_wedges_are_fills_drawn_from_a_street_zoom() -> None:
    """Thousands of wedges: no outlines (a frame of 2,000 outlined wedges took over a second in
    software WebGL), and the map document tells the component to draw them only from zoom 14."""
    from lawangjabo.views.layers import FOV_DENSE_MIN_ZOOM, FOV_LAYER_ID
    from lawangjabo.views.opsmap import map_document

    wedge = [("cam-a", [230, 159, 0], WEDGE)]
    sparse = _spec([fov_layer(wedge, opacity=60)])[0]
    dense = _spec([fov_layer(wedge, opacity=60, dense=True)])[0]
    assert sparse["stroked"] is True and dense["stroked"] is False
    assert {k: v for k, v in dense.items() if k != "stroked"} == {
        k: v for k, v in sparse.items() if k != "stroked"
    }
    spec = {"layers": [dense], "initialViewState": {"zoom": 12}}
    rule = {FOV_LAYER_ID: FOV_DENSE_MIN_ZOOM}
    document = json.loads(map_document(spec, [["cam-a", "A", "Dishub", "IT I"]], "cameras", rule))
    assert document["min_zoom"] == {"camera-fov": 14.0}
    assert json.loads(map_document(spec, [], "cameras"))["min_zoom"] == {}
