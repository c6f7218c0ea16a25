"""Each page renders in Streamlit's AppTest; the map spec holds every camera and no stream URL."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from lawangjabo.cameras.registry import load_registry
from lawangjabo.config import PROJECT_ROOT, load_settings
from lawangjabo.i18n import Translator
from lawangjabo.server.services import close_all

from .conftest import DATA

HOME = str(PROJECT_ROOT / "home.py")


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LAWANGJABO_PATHS__STATE_DIR", str(tmp_path / "state"))
    # AppTest runs the scripts without the HTTP layer, so no sign-in cookie can reach them: the
    # pages are tested with sign-in disabled, and the gate in the browser tests.
    monkeypatch.setenv("LAWANGJABO_AUTH__ENABLED", "false")
    monkeypatch.setenv("LAWANGJABO_CITY__LANGUAGE", "en")  # assertions below read English
    yield
    close_all()


def _run(page: str | None = None) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _deck(at: AppTest) -> dict[str, Any]:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    spec: dict[str, Any] = json.loads(charts[0].proto.json)
    return spec


def _map(at: AppTest) -> dict[str, Any]:
    """What the operations-map component received (its data, as the browser gets it)."""
    found = [e for e in at.get("bidi_component") if e.proto.component_name == "lawangjabo.opsmap"]
    assert len(found) == 1
    payload: dict[str, Any] = json.loads(found[0].proto.json)
    return payload


def _document(at: AppTest, scope: tuple[str, ...] = ()) -> dict[str, Any]:
    """The map the component fetches (``GET /api/map/deck``, here without HTTP), for ``scope``."""
    from urllib.parse import parse_qsl, urlsplit

    from lawangjabo.server.services import get_services
    from lawangjabo.views.mapview import operations_map_document

    query = dict(parse_qsl(urlsplit(_map(at)["deck_url"]).query, keep_blank_values=True))
    document: dict[str, Any] = json.loads(operations_map_document(get_services(), scope, query))
    return document


def _stream_urls() -> list[str]:
    settings = load_settings()
    cams = load_registry(PROJECT_ROOT / "cameras.geojson", settings).cameras
    urls = [c.props.stream.url for c in cams if c.props.stream]
    assert len(urls) >= 8
    return urls


def test_operations_map_holds_every_camera_and_no_stream_url() -> None:
    at = _run()
    payload = _map(at)
    document = _document(at)
    spec = document["spec"]
    raw = json.dumps(payload) + json.dumps(document)
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert {
        "cameras",
        "camera-fov",
        "sites",
        "site-labels",
        "river",
        "districts",
        "district-labels",
    } <= set(layers)
    ids = {row["id"] for row in layers["cameras"]["data"]}
    registry = load_registry(PROJECT_ROOT / "cameras.geojson", load_settings())
    assert ids == {c.id for c in registry.cameras}
    assert {c[0] for c in document["cameras"]} == ids == {s[0] for s in payload["states"]}
    assert len(layers["camera-fov"]["data"]) == len(ids)
    assert len(layers["sites"]["data"]) == 10
    assert len(layers["districts"]["data"]) >= 18
    for url in _stream_urls():
        assert url not in raw
    assert "stream.palembang.go.id" not in raw and "m3u8" not in raw and "rtsp" not in raw
    labels = [row["label"] for row in layers["district-labels"]["data"]]
    assert all(label.endswith("(approx.)") for label in labels)
    assert spec["pickingRadius"] >= 10  # a finger finds a camera
    assert payload["urls"]["bundle"].startswith("/assets/deckgl-")
    assert payload["text"]["search"].startswith("Find a camera")


def test_a_link_to_a_camera_selects_it_and_flies_there() -> None:
    at = AppTest.from_file(HOME, default_timeout=60)
    at.query_params["camera"] = "plg-cam45-sp-bandara"
    at.run()
    assert not at.exception
    payload = _map(at)
    assert payload["selected"] == payload["focus"] == "plg-cam45-sp-bandara"
    text = " ".join(m.value for m in at.markdown)
    assert "CCTV SP Bandara" in " ".join(h.value for h in at.subheader)
    assert "Sukarami" in " ".join(c.value for c in at.caption)
    assert "configured (HLS)" in text and "(estimate)" in text
    assert "stream.palembang.go.id" not in text


def test_a_link_to_an_unknown_camera_says_so() -> None:
    at = AppTest.from_file(HOME, default_timeout=60)
    at.query_params["camera"] = "no-such-camera"
    at.run()
    assert not at.exception
    assert "No camera no-such-camera that you may see." in [w.value for w in at.warning]
    assert _map(at)["selected"] is None


def test_layer_toggles_remove_layers() -> None:
    at = _run()
    at.toggle[1].set_value(False).run()  # fields of view
    at.toggle[3].set_value(False).run()  # districts
    ids = {layer["id"] for layer in _document(at)["spec"]["layers"]}
    assert "camera-fov" not in ids and "districts" not in ids and "cameras" in ids


def test_agency_filter_limits_cameras() -> None:
    at = _run()
    assert at.multiselect[0].options == ["Diskominfo Kota Palembang"]
    at.multiselect[0].set_value(["diskominfo"]).run()
    layers = {layer["id"]: layer for layer in _document(at)["spec"]["layers"]}
    assert len(layers["cameras"]["data"]) == 12


def test_registry_page_lists_cameras() -> None:
    at = _run("pages/registry.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Cameras loaded": "12", "Records rejected": "0", "Warnings": "0"}
    assert len(at.dataframe[0].value) == 12
    assert "stream.palembang.go.id" not in at.dataframe[0].value.to_json()


def test_bad_registry_shows_rejects_and_still_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = tmp_path / "cameras.geojson"
    shutil.copy(DATA / "registries" / "non_numeric_heading.geojson", registry)
    monkeypatch.setenv("LAWANGJABO_PATHS__REGISTRY", str(registry))
    at = _run()
    assert "3 camera record(s) in the registry were rejected" in at.warning[0].value
    layers = {layer["id"]: layer for layer in _document(at)["spec"]["layers"]}
    assert [row["id"] for row in layers["cameras"]["data"]] == ["ok-1"]


def test_unreadable_registry_still_renders_the_city(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAWANGJABO_PATHS__REGISTRY", str(tmp_path / "missing.geojson"))
    at = _run()
    assert "1 camera record(s)" in at.warning[0].value
    ids = {layer["id"] for layer in _document(at)["spec"]["layers"]}
    assert {"districts", "river", "sites"} <= ids


@pytest.fixture
def polled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A few real polling rounds of the simulated cameras into this test's state folder."""
    import time

    from lawangjabo.cameras.runtime import PollerRuntime
    from lawangjabo.server.services import get_services

    monkeypatch.setenv("LAWANGJABO_CAMERAS__INTERVAL_S", "1")
    monkeypatch.setenv("LAWANGJABO_CAMERAS__TIMEOUT_S", "2")
    settings = load_settings()
    cameras = load_registry(PROJECT_ROOT / "cameras.geojson", settings).cameras
    runtime = PollerRuntime(settings, cameras).start()
    try:
        time.sleep(5)
    finally:
        runtime.stop()
    get_services(settings).ingest()
    # The pages judge freshness against the interval: give them a normal one, so the pictures
    # taken seconds ago are not already "stale" while the test looks at them.
    monkeypatch.setenv("LAWANGJABO_CAMERAS__INTERVAL_S", "60")
    yield


def test_poller_silence_is_shown() -> None:
    """The entry script's status line (every page has it: checked in the browser tests)."""
    at = _run()
    strip = " ".join(m.value for m in at.markdown if "lj-strip" in m.value)
    assert "Simulated feeds" in strip and "camera poller is not running" in strip


def test_camera_wall_shows_every_state(polled: None) -> None:
    at = _run("pages/camera_wall.py")
    text = " ".join(m.value for m in at.markdown)
    for label in ("OFFLINE", "DARK PICTURE", "FROZEN PICTURE", "ONLINE"):
        assert label in text, label
    # The dead, the hanging and the dark camera never gave a good picture; the frozen one keeps
    # the one picture it ever showed, marked with its age.
    assert len(at.image) == 9
    assert text.count("last good frame") == 1
    assert text.count("no good picture yet") == 3
    at.multiselect[1].set_value(["offline"]).run()
    assert len(at.image) == 0
    assert " ".join(m.value for m in at.markdown).count("OFFLINE") == 3  # summary + 2 tiles


def test_health_page_reports_uptime_and_outages(polled: None) -> None:
    at = _run("pages/health.py")
    frames = {len(df.value): df.value for df in at.dataframe}
    agency = at.dataframe[0].value
    assert list(agency["agency"]) == ["Diskominfo Kota Palembang"]
    assert 0 < agency["uptime %"].iloc[0] < 100  # 4 of 12 cameras are failing
    by_camera = at.dataframe[2].value
    assert len(by_camera) == 12
    uptime = by_camera.set_index("id")["uptime %"]
    assert uptime["plg-cam14-punti-kayu"] == 0 and uptime["plg-cam45-sp-bandara"] == 0
    # A healthy camera is up nearly all the time (a capture can miss its 2-s deadline while
    # this 2-core machine starts ffmpeg and a dozen captures at once).
    assert uptime["plg-cam3-sp-polda"] > 60
    current = at.dataframe[3].value
    assert {"plg-cam14-punti-kayu", "plg-cam48-sp-soekarno-hatta", "plg-cam45-sp-bandara"} <= set(
        current["id"]
    )
    assert frames


def test_details_panel_and_map_states(polled: None) -> None:
    at = AppTest.from_file(HOME, default_timeout=60)
    at.query_params["camera"] = "plg-cam3-sp-polda"
    at.run()
    assert not at.exception
    assert "ONLINE" in " ".join(m.value for m in at.markdown)
    states = {s[0]: s for s in _map(at)["states"]}
    assert states["plg-cam3-sp-polda"][1:3] == ["online", "ONLINE"]
    assert states["plg-cam3-sp-polda"][3] is not None  # when its last good picture was taken
    assert states["plg-cam14-punti-kayu"][1:3] == ["offline", "OFFLINE · connection refused"]
    at.session_state["selected_camera"] = "plg-cam14-punti-kayu"
    at.run()
    text = " ".join(m.value for m in at.markdown)
    assert "OFFLINE" in text and "refused" in text
    assert _map(at)["selected"] == "plg-cam14-punti-kayu"


def test_incidents_page_logs_and_routes_an_incident() -> None:
    at = _run("pages/incidents.py")
    assert at.dataframe[0].value is not None  # the seeded demo history's open incidents
    assert len(at.number_input) == 0  # 'where' is a site by default: no coordinate fields
    pick = _deck(at)  # the place picker draws the city with no internet: no basemap tiles
    assert {"districts", "river", "sites", "site-labels", "pick-grid"} <= {
        layer["id"] for layer in pick["layers"]
    }
    assert pick.get("mapProvider") is None and "://" not in str(pick.get("mapStyle"))
    at.radio(key="incident-where").set_value("site").run()
    at.selectbox[0].set_value("kebakaran")  # category
    at.selectbox[1].set_value("pasar-16-ilir")
    at.text_area[0].input("smoke from a shop")
    at.button[0].click().run()
    assert not at.exception
    assert "lead agency: Damkar" in at.success[0].value
    assert at.text_area[0].value == "" and at.selectbox[1].value == "bkb"  # a fresh form
    detail = " ".join(m.value for m in at.markdown)
    assert "Kebakaran" in detail and "**new**" in detail
    at.button(key="to-dispatched").click().run()
    detail = " ".join(m.value for m in at.markdown)
    assert "**dispatched**" in detail
    frames = [d.value for d in at.dataframe]
    events = next(f for f in frames if "kind" in f.columns)
    assert list(events["kind"]) == ["created", "status"]
    # Was it on camera? The cameras whose view covers Pasar 16 Ilir, each with what is known of
    # its state at the incident's time (nothing is assumed: the poller is not running here).
    assert "**Was it on camera?**" in detail
    seen = next(f for f in frames if "state at that time" in f.columns)
    assert len(seen) >= 1 and set(seen["state at that time"]) <= {"unknown: no poll then"}
    # The same fire reported again a minute later at the same site: asked first.
    first = at.session_state["incident"]
    at.selectbox[0].set_value("kebakaran")
    at.selectbox[1].set_value("pasar-16-ilir")
    at.button[0].click().run()
    assert any(f"Likely already logged: incident {first}" in w.value for w in at.warning)
    assert at.session_state["incident"] == first  # nothing logged yet
    at.button(key="log-duplicate").click().run()
    assert at.session_state["incident"] != first and "logged" in at.success[0].value
    at.radio(key="incident-where").set_value("coordinates").run()
    assert len(at.number_input) == 2


def test_analytics_page_sends_cells_not_points() -> None:
    at = _run("pages/analytics.py")
    spec = _deck(at)
    layers = {layer["id"]: layer for layer in spec["layers"]}
    cells = layers["incident-hexes"]["data"]
    assert 50 < len(cells) < 2000

    def counted(rows: list[dict[str, Any]]) -> int:  # what each cell's tooltip says
        return sum(int(c["title"].split()[0]) for c in rows)

    assert counted(cells) == int(at.metric[0].value)
    assert set(cells[0]) == {"hex", "colour", "title"}  # no points, nothing unused
    assert "camera-suggestions" in layers
    assert len(at.dataframe[0].value) == 18  # every kecamatan in the choropleth table
    at.toggle[0].set_value(True).run()  # play back one hour of the day
    fewer = {layer["id"]: layer for layer in _deck(at)["layers"]}["incident-hexes"]["data"]
    assert counted(fewer) < counted(cells)


def test_without_a_session_nothing_but_sign_in_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAWANGJABO_AUTH__ENABLED", "true")
    at = AppTest.from_file(HOME, default_timeout=60)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Please sign in."]
    assert not at.get("deck_gl_json_chart") and not at.dataframe


def test_audit_page_lists_entries() -> None:
    from lawangjabo.server.services import get_services

    get_services().audit("ops1", "login_failed", {})
    at = _run("pages/audit.py")
    frame = at.dataframe[0].value
    assert list(frame["action"]) == ["login_failed"] and list(frame["by"]) == ["ops1"]
    at.text_input[1].set_value("snapshot_view").run()
    assert len(at.dataframe[0].value) == 0


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["Brief · Palembang", "Cameras online", "Open P1 incidents", "Strategic sites"]),
        ("id", ["Ringkasan · Palembang", "Kamera aktif", "Insiden P1 terbuka", "Lokasi strategis"]),
    ],
)
def test_brief_page_in_both_languages(
    lang: str, words: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAWANGJABO_CITY__LANGUAGE", lang)
    at = _run("pages/brief.py")
    text = " ".join(
        [m.value for m in at.markdown] + [s.value for s in at.subheader]
        + [m.label for m in at.metric]
    )  # fmt: skip
    for word in words:
        assert word in text, (word, text[:500])
    assert len(at.metric) == 3
    spec = _deck(at)
    assert spec.get("mapProvider") is None and "://" not in str(spec.get("mapStyle"))  # no tiles


def test_switching_the_language() -> None:
    at = _run()
    assert any(s.value == "Layers" for s in at.subheader)
    at.selectbox(key="lang-picker").set_value("id").run()
    assert not at.exception
    assert any(s.value == "Lapisan" for s in at.subheader)
    assert at.session_state["lang"] == "id"


def test_alerts_page_lists_and_acknowledges(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from lawangjabo.alerts.engine import Condition
    from lawangjabo.server.services import get_services

    book = get_services().alerts()
    assert book is not None
    book.apply(
        [Condition("camera_frozen", "plg-cam2-bkb", {"camera": "CCTV BKB", "minutes": 42})],
        datetime.now(UTC),
    )
    at = _run("pages/alerts.py")
    assert any("Camera CCTV BKB frozen for 42 min" in m.value for m in at.markdown)
    assert any("alert(s) not acknowledged" in e.value for e in at.error) is False
    at.button(key=f"ack-{book.active()[0].id}").click().run()
    (alert,) = book.active()
    assert alert.acked_by == "local" and alert.acked_at is not None
    assert any("acknowledged by local" in c.value for c in at.caption)


def _failing_page() -> None:
    import uikit

    @uikit.guarded
    def broken() -> None:
        raise KeyError("/srv/secret/path/plg-polrestabes-internal-1")

    broken()


def test_an_error_shows_a_reference_not_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    at = AppTest.from_function(_failing_page, default_timeout=60)
    at.run()
    assert not at.exception  # no traceback element reaches the browser
    shown = " ".join(e.value for e in at.error)
    assert "reference" in shown and "/srv/secret" not in shown
    reference = shown.split("reference ")[1][:8]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


def test_the_map_holds_only_the_accounts_cameras_and_no_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the map component fetches for a Dishub operator: never another agency's internal
    camera, never a stream address (the admin gets the camera, still not its stream)."""
    from lawangjabo.server.services import get_services
    from lawangjabo.views.healthview import tiles
    from lawangjabo.views.mapview import operations_map_document
    from lawangjabo.views.opsmap import camera_states

    registry = json.loads((PROJECT_ROOT / "cameras.geojson").read_text(encoding="utf-8"))
    hidden = json.loads(json.dumps(registry["features"][0]))
    hidden["properties"].update(id="plg-police-internal", name="Police internal gate",
                                owner="polrestabes", scope="internal")  # fmt: skip
    hidden["properties"]["stream"] = {"url": "rtsp://10.9.9.9/internal", "protocol": "rtsp"}
    registry["features"].append(hidden)
    path = tmp_path / "cameras.geojson"
    path.write_text(json.dumps(registry), encoding="utf-8")
    monkeypatch.setenv("LAWANGJABO_PATHS__REGISTRY", str(path))
    services = get_services()
    query = {"layers": "cameras,fov,sites,districts,river", "agencies": "", "lang": "en"}
    operator = operations_map_document(services, ("dishub",), query)
    admin = operations_map_document(services, (), query)
    document = json.loads(operator)
    drawn = {c[0] for c in document["cameras"]}
    assert "plg-police-internal" not in drawn and len(drawn) == 12
    assert b"plg-police-internal" not in operator and b"Police internal" not in operator
    assert b"plg-police-internal" in admin and b"10.9.9.9" not in admin
    for url in _stream_urls():
        assert url.encode() not in operator and url.encode() not in admin
    # Asking for the other agency's cameras by name changes nothing.
    asked = operations_map_document(services, ("dishub",), {**query, "agencies": "polrestabes"})
    assert b"plg-police-internal" not in asked
    # The states the map polls, for the same account.
    cameras = services.visible_cameras(("dishub",))
    states = camera_states(tiles(services, cameras), Translator("en", "Asia/Jakarta"))
    assert {s[0] for s in states} == drawn


def test_a_big_wall_comes_in_pages_failures_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of pictures never render at once: 60 cameras → pages of 48, with a counter."""
    import subprocess
    import sys

    registry = tmp_path / "cameras.geojson"
    subprocess.run(
        [sys.executable, "-m", "lawangjabo", "generate-registry", "--count", "60",
         "--out", str(registry)],
        check=True, cwd=PROJECT_ROOT, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("LAWANGJABO_PATHS__REGISTRY", str(registry))
    at = _run("pages/camera_wall.py")

    def tiles_shown() -> int:
        return sum(1 for m in at.markdown if m.value.startswith("**"))

    assert tiles_shown() == 48
    assert "Showing 1–48 of 60 (page 1 of 2)" in " ".join(c.value for c in at.caption)
    at.number_input[0].set_value(2).run()
    assert not at.exception
    assert tiles_shown() == 12
    assert "Showing 49–60 of 60 (page 2 of 2)" in " ".join(c.value for c in at.caption)


def test_wall_pages_are_clamped() -> None:
    from lawangjabo.views.healthview import Tile, wall_page

    items = [Tile(f"c{i}", f"C{i}", "a", "k", "online", None, None) for i in range(5)]
    assert wall_page(items, 1, per_page=2) == (items[0:2], 3)
    assert wall_page(items, 3, per_page=2) == (items[4:5], 3)
    assert wall_page(items, 9, per_page=2) == (items[4:5], 3)  # past the end: the last page
    assert wall_page(items, 0, per_page=2) == (items[0:2], 3)
    assert wall_page([], 1) == ([], 1)
