"""What the operations-map component receives: the deck, each camera's state, its own texts.

Pure functions. The component (``assets/opsmap.js``) draws the pydeck-built deck with pydeck's
offline deck.gl bundle, selects in the browser and refreshes camera states from
``/api/map/state`` (:func:`camera_states`, ETag'd) without a Streamlit rerun. Everything here
comes from :meth:`Camera.public_row` and the health tiles: never a stream URL, and only the
cameras the caller passes (the account's scope).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from lawangjabo.i18n import N_, Translator
from lawangjabo.views.healthview import FAILED, STATE_COLOURS, Tile

# A finger is ~40 px wide: deck.gl picks the nearest camera within this radius of a tap.
PICKING_RADIUS_PX = 14
STATE_PATH = "/api/map/state"
DECK_PATH = "/api/map/deck"
REFRESH_S = 4


def camera_state(tile: Tile, translator: Translator) -> list[Any]:
    """[id, state, label, last good picture (Unix s) or None]: what the map shows of a camera's
    health. The label is the state and, when offline, why ('OFFLINE · timeout'); the picture's
    age is worked out in the browser from the time (it changes every second, the rest rarely)."""
    label = tile.state_text(translator)
    taken = round(tile.last_good_at.timestamp(), 1) if tile.last_good_at is not None else None
    return [tile.camera_id, tile.state, label, taken]


def camera_states(tiles: Sequence[Tile], translator: Translator) -> list[list[Any]]:
    return [camera_state(t, translator) for t in tiles]


def states_etag(states: Sequence[Sequence[Any]]) -> str:
    """A strong validator of the states (not of the server time that travels with them)."""
    digest = hashlib.blake2b(
        json.dumps(states, separators=(",", ":")).encode(), digest_size=12
    ).hexdigest()
    return f'"{digest}"'


TEXTS = {  # the component's own words, in the viewer's language (catalog strings)
    "search": N_("Find a camera: type a name, id or agency"),
    "no_match": N_("No camera matches"),
    "close": N_("Close"),
    "picture_age": N_("picture {age}"),
    "last_good": N_("last good frame {age} ({when})"),
    "no_stream": N_("no stream known"),
    "no_picture_yet": N_("no picture yet"),
    "no_good_picture": N_("no good picture yet"),
    "refreshing": N_("fresh picture on its way…"),
    "fresh": N_("fresh picture"),
    "refresh_failed": N_("no fresh picture: the camera did not answer"),
    "refresh_not_good": N_("no fresh good picture: the camera answered with what it shows now"),
    "refresh_pending": N_("still capturing: the fresh picture shows when it comes"),
    "refresh_limited": N_("too many refreshes; try again shortly"),
    "stale_states": N_("camera states not updated for {age}: the server is not answering"),
    "picture_of": N_("Picture from {name}"),
    "s_ago": N_("{n} s ago"),
    "min_ago": N_("{n} min ago"),
    "h_ago": N_("{n} h ago"),
    "d_ago": N_("{n} d ago"),
    "loading": N_("Loading the map…"),
    "map_failed": N_("The map could not be drawn: {error}"),
    "map_label": N_("Operations map: cameras, fields of view, sites and districts"),
    "live_start": N_("Live"),
    "live_stop": N_("Stop live"),
    "live_connecting": N_("Connecting to the camera…"),
    "live_keyframe_wait": N_("Waiting for the camera's next full frame (one every {n} s)…"),
    "live_on": N_("LIVE · reached our server {when} · on screen {delay} s later"),
    "live_lost": N_("Live stream lost since {when}: {reason}. Retrying…"),
    "live_refused": N_("No live video: {reason}"),
    "live_ended": N_("Live video stopped after {n} min. Press Live to watch again."),
    "live_disconnected": N_("Live video disconnected. Press Live to try again."),
}


def component_texts(translator: Translator) -> dict[str, str]:
    _ = translator.gettext
    return {key: _(text) for key, text in TEXTS.items()}


SLIM_FIELDS = ("id", "position", "colour", "line", "scale")
LAYER_KEYS = ("cameras", "fov", "sites", "districts", "river")
SMALL_MAP = 300  # up to this many cameras, their states travel with the page's data


def map_document(
    spec: dict[str, Any],
    cameras: Sequence[Sequence[str]],
    camera_layer: str,
    min_zoom: Mapping[str, float] | None = None,
) -> bytes:
    """The map itself (the deck and the cameras' names), as ``GET /api/map/deck`` serves it:
    fetched by the component once per version and kept by the browser, never re-sent with a
    rerun. The camera rows keep what drawing needs (the tooltips are the component's own).
    ``min_zoom``: layers the component draws only from that zoom on (layer id → zoom)."""
    spec = dict(spec)
    spec["pickingRadius"] = PICKING_RADIUS_PX
    spec["layers"] = [
        {**layer, "data": [{k: r[k] for k in SLIM_FIELDS} for r in layer["data"]]}
        if layer.get("id") == camera_layer
        else layer
        for layer in spec.get("layers", [])
    ]
    document = {"spec": spec, "cameras": cameras, "min_zoom": dict(min_zoom or {})}
    return json.dumps(document, separators=(",", ":")).encode()


def map_version(*parts: Any) -> str:
    """A short name for one map document (what it was built from), for the browser's cache."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()


def map_payload(
    tiles: Sequence[Tile],
    translator: Translator,
    *,
    deck_url: str,
    camera_layer: str,
    radius_px: int,
    timezone: str,
    selected: str | None,
    focus: str | None,
    bundle_url: str,
    can_refresh: bool,
    can_live: bool = False,
) -> dict[str, Any]:
    """The component's data: small, whatever the number of cameras (the map comes from
    ``deck_url``). ``tiles`` are the cameras drawn; ``selected`` opens a camera's card at once
    (its facts travel here, so a link to it needs no other request), ``focus`` flies to it."""
    by_id = {t.camera_id: t for t in tiles}
    chosen = by_id.get(selected) if selected else None
    return {
        "deck_url": deck_url,
        "camera_layer": camera_layer,
        "radius_px": radius_px,
        # a city's few dozen cameras: their states now, no request needed for the colours
        "states": camera_states(tiles, translator) if len(tiles) <= SMALL_MAP else None,
        "selected_camera": (
            [chosen.camera_id, chosen.name, chosen.agency, chosen.kecamatan] if chosen else None
        ),
        "selected_state": camera_state(chosen, translator) if chosen else None,
        "colours": STATE_COLOURS,
        "failed": sorted(FAILED),
        "text": component_texts(translator),
        "lang": translator.lang,
        "timezone": timezone,
        "zone": translator.zone_label,
        "selected": selected if chosen else None,
        "focus": focus,
        "urls": {
            "bundle": bundle_url,
            "state": f"{STATE_PATH}?lang={translator.lang}",
            "session": "/api/session",
        },
        "refresh_s": REFRESH_S,
        "can_refresh": can_refresh,
        "can_live": can_live,
    }
