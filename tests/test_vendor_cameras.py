"""Vendor cameras (issue 14, items 1, 2 and 5): Hikvision and Dahua snapshot endpoints behind
HTTP Digest, served by our simulator with a real lockout after 5 wrong passwords. The poller asks
a camera that refused its credentials once, then waits: never a retry loop into a lockout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from lawangjabo.cameras.capture import CaptureError, grab, resolve_url
from lawangjabo.cameras.poller import Poller, Target
from lawangjabo.cameras.registry import Stream
from lawangjabo.cameras.simulator import LOCK_AFTER, CameraSimulator, SimCamera
from lawangjabo.cameras.snapshots import SnapshotStore

from .test_poller import ListSink


@pytest.fixture(scope="module")
def vendors() -> Iterator[CameraSimulator]:
    sim = CameraSimulator([
        SimCamera("hik-ok", "Hikvision", "hikvision"),
        SimCamera("dahua-ok", "Dahua", "dahua"),
        SimCamera("hik-wrong", "Hikvision, wrong password", "hikvision", fault="badauth"),
        SimCamera("hik-locks", "Hikvision to be locked", "hikvision", fault="badauth"),
        SimCamera("onvif-ok", "ONVIF", "onvif"),
        SimCamera("onvif-wrong", "ONVIF, wrong password", "onvif", fault="badauth"),
    ]).start()  # fmt: skip
    yield sim
    sim.stop()


def test_digest_snapshots_from_both_vendors_and_the_sharp_main_stream(
    vendors: CameraSimulator,
) -> None:
    for camera_id in ("hik-ok", "dahua-ok"):
        url, protocol = vendors.stream_for(camera_id)
        got = grab(url, protocol, 5.0)
        assert got.frame.shape[:2] == (360, 640) and got.jpeg is not None
    sharp = vendors.sharp_for("hik-ok")
    assert sharp is not None and "/channels/101/" in sharp[0]
    assert grab(*sharp, 5.0).frame.shape[:2] == (720, 1280)  # the click's picture is sharper
    assert vendors.sharp_for("dahua-ok") is None
    assert vendors.guards["hik-ok"].failures_total == 0


def test_wrong_credentials_are_sent_once_and_never_shown(vendors: CameraSimulator) -> None:
    url, protocol = vendors.stream_for("hik-wrong")
    assert url.startswith("secret://")  # the simulator keeps its accounts as secrets too
    password = unquote(urlsplit(resolve_url(url)).password or "")
    assert password
    with pytest.raises(CaptureError) as caught:
        grab(url, protocol, 5.0)
    assert caught.value.kind == "auth_refused"
    assert vendors.guards["hik-wrong"].failures_total == 1  # one credentialed attempt
    assert password not in str(caught.value) and "admin" not in str(caught.value)


def test_a_lockout_is_recognised_and_the_poller_never_causes_one(
    vendors: CameraSimulator, tmp_path: Path
) -> None:
    guard = vendors.guards["hik-locks"]
    url, protocol = vendors.stream_for("hik-locks")
    sink = ListSink()
    poller = Poller([Target("hik-locks", url, protocol)], SnapshotStore(tmp_path), sink,
                    interval_s=0.05, timeout_s=3.0, max_backoff_s=0.1)  # fmt: skip
    try:
        for _ in range(10):  # sweeps far faster than any real cadence
            poller.sweep()
        clicked = poller.refresh("hik-locks").result(timeout=10)
    finally:
        poller.stop()
    assert guard.failures_total == 1 and guard.locked_until == 0.0  # asked once, never locked
    assert [o.error_kind for o in sink.outcomes] == ["auth_refused"]  # one poll in the ledger
    assert clicked.error_kind == "auth_refused" and clicked.latency_ms == 0.0  # no new attempt
    assert poller.next_due("hik-locks") - poller.clock() > 1700  # waits ~30 minutes

    kinds = []
    for _ in range(LOCK_AFTER + 1):  # someone else's script hammering the camera
        with pytest.raises(CaptureError) as caught:
            grab(url, protocol, 5.0)
        kinds.append(caught.value.kind)
    assert kinds[: LOCK_AFTER - 2] == ["auth_refused"] * (LOCK_AFTER - 2)
    assert kinds[-1] == "locked_out"
    right = vendors.stream_for("hik-ok")[0].replace("/vendor/hik-ok", "/vendor/hik-locks")
    with pytest.raises(CaptureError) as caught:
        grab(right, protocol, 5.0)
    assert caught.value.kind == "locked_out"  # even the right password, while locked


def test_a_vendor_stream_in_the_registry_builds_its_paths_after_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = Stream(url="env://HIK_BKB", protocol="hikvision", channel=3)
    assert stream.source() == ("env://HIK_BKB/ISAPI/Streaming/channels/302/picture", "hikvision")
    assert stream.source(sharp=True)[0].endswith("/channels/301/picture")
    monkeypatch.setenv("HIK_BKB", "http://viewer:pw@10.20.30.40/")
    assert resolve_url(stream.source()[0]) == (
        "http://viewer:pw@10.20.30.40/ISAPI/Streaming/channels/302/picture"
    )
    dahua = Stream(url="http://10.1.1.9:8080", protocol="dahua")
    assert dahua.source() == dahua.source(sharp=True)
    assert dahua.source()[0] == "http://10.1.1.9:8080/cgi-bin/snapshot.cgi?channel=1"
    with pytest.raises(ValueError, match="base address"):
        Stream(url="http://10.1.1.9/ISAPI/Streaming/channels/101/picture", protocol="hikvision")
    with pytest.raises(ValueError, match="secret://"):
        Stream(url="http://admin:12345@10.1.1.9", protocol="hikvision")
    with pytest.raises(ValueError, match="secret://"):  # the sharp source is checked too
        sharp = {"url": "http://a:b@10.1.1.9/x.jpg", "protocol": "jpeg"}
        Stream.model_validate({"url": "env://X", "protocol": "jpeg", "sharp": sharp})


def test_a_portal_stream_names_a_configured_profile() -> None:
    import json

    from lawangjabo.cameras.registry import RegistryValidator
    from lawangjabo.config import PROJECT_ROOT, load_settings
    from lawangjabo.geo.districts import approximate_districts

    settings = load_settings()
    feature = json.loads((PROJECT_ROOT / "cameras.geojson").read_text())["features"][0]
    good = {**feature["properties"], "stream": {"url": "https://stream.palembang.go.id/cam2/"
                                                "index.m3u8", "protocol": "hls",
                                                "portal": "palembang"}}  # fmt: skip
    bad = {**good, "id": "plg-test-portal", "stream": {**good["stream"], "portal": "jakarta"}}
    validator = RegistryValidator(settings, approximate_districts(settings.city))
    load = validator.validate_features([{**feature, "properties": good},
                                        {**feature, "properties": bad}])  # fmt: skip
    (camera,) = load.cameras
    assert camera.props.stream is not None
    assert camera.props.stream.source() == (good["stream"]["url"], "portal-hls:palembang")
    (reject,) = load.rejects
    assert "portal profile 'jakarta' is not in [portals] (palembang)" in reject.reason
    with pytest.raises(ValueError, match="HLS"):
        Stream(url="http://10.1.1.9/x.jpg", protocol="jpeg", portal="palembang")


def test_onvif_asks_once_where_the_snapshot_is_and_again_after_a_failure(
    vendors: CameraSimulator,
) -> None:
    from lawangjabo.cameras import capture

    calls: list[str] = []
    answer = vendors.onvif_reply

    def counted(path: str, body: str) -> tuple[int, bytes]:
        calls.append(path)
        return answer(path, body)

    vendors.onvif_reply = counted  # type: ignore[method-assign]
    try:
        url, protocol = vendors.stream_for("onvif-ok")
        assert protocol == "onvif" and "/vendor/" not in url  # the camera says where
        assert grab(url, protocol, 10.0).frame.shape[:2] == (360, 640)  # the sub profile
        asked = len(calls)
        assert asked >= 3  # services, profiles, snapshot URI
        grab(url, protocol, 10.0)
        assert len(calls) == asked  # cached: the next poll reads the JPEG only
        sharp = vendors.sharp_for("onvif-ok")
        assert sharp is not None and grab(*sharp, 10.0).frame.shape[:2] == (720, 1280)
        key = (resolve_url(url), False)  # cached by the resolved address
        capture._onvif_uris[key] = capture._onvif_uris[key].replace("onvif-ok", "moved")
        with pytest.raises(CaptureError):  # the announced URI went away
            grab(url, protocol, 10.0)
        before = len(calls)
        assert grab(url, protocol, 10.0).frame.size and len(calls) > before  # asked again
        with pytest.raises(CaptureError) as caught:
            grab(*vendors.stream_for("onvif-wrong"), 10.0)
        assert caught.value.kind == "auth_refused"  # a WS-Security refusal: the lockout guard
        assert vendors.cameras["onvif-wrong"].id not in str(caught.value)
    finally:
        vendors.onvif_reply = answer  # type: ignore[method-assign]


def test_onvif_discovery_works_when_called_from_async_code(vendors: CameraSimulator) -> None:
    """The ONVIF client is async: called where an event loop already runs (a browser test's,
    a server's) discovery runs on its own thread and loop instead of failing."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from lawangjabo.cameras import capture

    url, protocol = vendors.stream_for("onvif-ok")
    capture._onvif_uris.clear()

    async def inside_a_loop() -> tuple[int, ...]:
        return tuple(grab(url, protocol, 10.0).frame.shape)

    with ThreadPoolExecutor(1) as pool:  # a loop of its own, as Playwright's would be
        shape = pool.submit(asyncio.run, inside_a_loop()).result()
    assert shape[:2] == (360, 640)


def test_an_rtsp_stream_can_name_its_transport() -> None:
    stream = Stream(url="env://CAM_RTSP", protocol="rtsp", transport="tcp")
    assert stream.source() == ("env://CAM_RTSP", "rtsp-tcp")
    assert Stream(url="rtsp://10.1.1.9/ch1", protocol="rtsp").source()[1] == "rtsp"
    with pytest.raises(ValueError, match="RTSP"):
        Stream(url="http://10.1.1.9/live.m3u8", protocol="hls", transport="tcp")
