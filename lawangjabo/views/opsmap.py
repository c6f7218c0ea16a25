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
from lawangjabo.views.healthview import FAILED, STATE_COLOURS, STATE_LABELS, Tile, state_label

# A finger is ~40 px wide: deck.gl picks the nearest camera within this radius of a tap.
PICKING_RADIUS_PX = 14
STATE_PATH = "/api/map/state"
REFRESH_S = 4


def camera_state(tile: Tile, translator: Translator) -> list[Any]:
    """[id, state, label, last good picture (Unix s) or None]: what the map shows of a camera's
    health. The label is the state and, when offline, why ('OFFLINE · timeout'); the picture's
    age is worked out in the browser from the time (it changes every second, the rest rarely)."""
    reason = tile.reason(translator)
    label = " · ".join(p for p in (state_label(tile.state, translator), reason) if p)
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
    "open_hint": N_("Click a camera on the map, or find it by name, id or agency."),
    "picture_age": N_("picture {age}"),
    "last_good": N_("last good frame {age} ({when})"),
    "no_stream": N_("no stream known"),
    "no_picture_yet": N_("no picture yet"),
    "no_good_picture": N_("no good picture yet"),
    "refreshing": N_("fresh picture on its way…"),
    "fresh": N_("fresh picture"),
    "refresh_failed": N_("no fresh picture: the camera did not answer"),
    "refresh_limited": N_("too many refreshes; try again shortly"),
    "stale_states": N_("camera states not updated for {age}: the server is not answering"),
    "picture_of": N_("Picture from {name}"),
    "s_ago": N_("{n} s ago"),
    "min_ago": N_("{n} min ago"),
    "h_ago": N_("{n} h ago"),
    "d_ago": N_("{n} d ago"),
    "loading": N_("Loading the map…"),
    "map_failed": N_("The map could not be drawn: {error}"),
    "cameras_shown": N_("{n} cameras shown."),
    "map_label": N_("Operations map: cameras, fields of view, sites and districts"),
}


def component_texts(translator: Translator) -> dict[str, str]:
    _ = translator.gettext
    return {key: _(text) for key, text in TEXTS.items()}


def _rows_by_id(spec: Mapping[str, Any], layer_id: str) -> list[dict[str, Any]]:
    for layer in spec.get("layers", []):
        if layer.get("id") == layer_id:
            return list(layer.get("data", []))
    return []


def map_payload(
    deck_json: str,
    tiles: Sequence[Tile],
    translator: Translator,
    *,
    camera_layer: str,
    radius_px: int,
    timezone: str,
    selected: str | None,
    focus: str | None,
    bundle_url: str,
    can_refresh: bool,
) -> dict[str, Any]:
    """The component's data. ``deck_json`` is the pydeck deck (its camera layers hold only the
    cameras in ``tiles``); ``selected`` rings a camera, ``focus`` flies the view to it."""
    spec = json.loads(deck_json)
    spec["pickingRadius"] = PICKING_RADIUS_PX
    names = {t.camera_id: (t.name, t.agency, t.kecamatan) for t in tiles}
    return {
        "spec": spec,
        "camera_layer": camera_layer,
        "radius_px": radius_px,
        "cameras": [
            [cid, *names[cid]] for cid in (r["id"] for r in _rows_by_id(spec, camera_layer))
        ],
        "states": camera_states(tiles, translator),
        "colours": STATE_COLOURS,
        "failed": sorted(FAILED),
        "state_labels": {s: state_label(s, translator) for s in STATE_LABELS},
        "text": component_texts(translator),
        "lang": translator.lang,
        "timezone": timezone,
        "zone": translator.zone_label,
        "selected": selected,
        "focus": focus,
        "urls": {
            "bundle": bundle_url,
            "state": f"{STATE_PATH}?lang={translator.lang}",
            "session": "/api/session",
        },
        "refresh_s": REFRESH_S,
        "can_refresh": can_refresh,
    }
