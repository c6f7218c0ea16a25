"""The leaders' brief: its numbers against hand-made incidents and poll outcomes, and the
daily brief image drawn from them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lawangjabo.cameras.ledger import SpoolWriter
from lawangjabo.cameras.poller import Outcome
from lawangjabo.config import PathsConfig, load_settings
from lawangjabo.i18n import Translator
from lawangjabo.incidents.store import NewIncident
from lawangjabo.server.services import Services
from lawangjabo.views.brief import build_brief
from lawangjabo.views.briefimage import MAP_BOX, PAGE, SIMULATED, _Projection, daily_brief_png
from lawangjabo.views.healthview import STATE_COLOURS


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = load_settings(paths=PathsConfig(state_dir=tmp_path / "state"))
    settings = settings.model_copy(
        update={"incidents": settings.incidents.model_copy(update={"demo_history_days": 0})}
    )
    svc = Services(settings)
    yield svc
    svc.close()


def test_brief_numbers(services: Services) -> None:
    now = datetime.now(UTC)
    store = services.incidents()
    assert store is not None
    site = services.settings.city.sites[0].point
    today = [
        NewIncident(now - timedelta(minutes=m), "kebakaran", p, site.lat, site.lon, reported_at=now)
        for m, p in ((1, "P1"), (2, "P2"), (3, "P3"))
    ]
    earlier = [  # the same weekday and hours, 1..8 weeks ago: 2 each, so usually 2.0
        NewIncident(now - timedelta(weeks=w, minutes=m), "kemacetan", "P3", site.lat, site.lon,
                    status="closed")
        for w in range(1, 9)
        for m in (1, 2)
    ]  # fmt: skip
    store.insert(today + earlier, "test")
    cameras = services.snapshot().registry.cameras
    up, down = cameras[0], cameras[1]
    writer = SpoolWriter(services.settings.paths.spool)
    writer.add(Outcome(up.id, now, True, None, 5.0, "sweep"))
    writer.add(Outcome(down.id, now, False, "timeout", 5000.0, "sweep"))
    writer.flush()
    brief = build_brief(services, cameras, now=now)
    assert (brief.online, brief.total) == (1, 2)  # the other cameras were never polled
    assert brief.open_by_priority == {"P1": 1, "P2": 1, "P3": 1}
    local_midnight_minutes = (now + timedelta(hours=7)).hour * 60 + (
        now + timedelta(hours=7)
    ).minute
    if local_midnight_minutes >= 3:  # all three happened after local midnight
        assert brief.today == 3 and brief.usual_today == 2.0
    assert [p["category"] for p in brief.p1_open] == ["Kebakaran"]  # the city's language
    english = build_brief(services, cameras, now=now, lang="en")
    assert [p["category"] for p in english.p1_open] == ["Fire"]
    assert [t.camera_id for t in brief.outages] == [down.id]
    assert {t.camera_id for t in brief.strategic} == {
        c.id for c in cameras if "strategic-2017" in c.props.tags
    }
    scoped = build_brief(services, cameras, agencies=("dishub",), now=now)
    assert scoped.open_by_priority == {"P1": 0, "P2": 0, "P3": 0}  # fires are Damkar's


def test_daily_brief_image(services: Services) -> None:
    now = datetime.now(UTC)
    cameras = services.snapshot().registry.cameras
    down = cameras[1]
    writer = SpoolWriter(services.settings.paths.spool)
    writer.add(Outcome(down.id, now, False, "refused", 5.0, "sweep"))
    writer.flush()
    brief = build_brief(services, cameras, now=now)
    png = daily_brief_png(services, brief, Translator("id"))
    image = np.asarray(Image.open(BytesIO(png)).convert("RGB"))
    assert image.shape == (PAGE[1], PAGE[0], 3)
    box = services.settings.city.bbox
    x, y = _Projection((box.west, box.south, box.east, box.north), MAP_BOX)(down.lon, down.lat)
    assert image[int(y), int(x)].tolist() == STATE_COLOURS["offline"]  # the failed camera, red
    assert (image[40:160, 60:900] < 128).any()  # the header was written
    assert len(png) < 400_000  # small enough to forward in a chat
    banner = image[142:167, 60 : PAGE[0] - 60].reshape(-1, 3)
    simulated = (np.abs(banner.astype(int) - SIMULATED).sum(axis=1) < 30).mean()
    assert (simulated > 0.5) == services.settings.cameras.simulate


def test_daily_brief_image_says_simulated_in_demo_mode(tmp_path: Path) -> None:
    settings = load_settings(
        paths=PathsConfig(state_dir=tmp_path / "state"), cameras={"simulate": True}
    )
    services = Services(settings)
    try:
        brief = build_brief(services, services.snapshot().registry.cameras)
        png = daily_brief_png(services, brief, Translator("en"))
    finally:
        services.close()
    image = np.asarray(Image.open(BytesIO(png)).convert("RGB"))
    banner = image[142:167, 60 : PAGE[0] - 60].reshape(-1, 3)
    assert (np.abs(banner.astype(int) - SIMULATED).sum(axis=1) < 30).mean() > 0.5


def test_glance_page_is_plain_escaped_html(services: Services) -> None:
    from lawangjabo.views.glance import render_glance

    now = datetime.now(UTC)
    cameras = services.snapshot().registry.cameras
    writer = SpoolWriter(services.settings.paths.spool)
    writer.add(Outcome(cameras[1].id, now, False, "refused", 5.0, "sweep"))
    writer.flush()
    brief = build_brief(services, cameras, now=now)
    poller = {"mode": "embedded", "alive": False, "age_s": 125.0}
    page = render_glance(brief, Translator("id"), "Palembang", True, poller, "<b>mayor</b>")
    assert "<script" not in page  # nothing runs: the policy forbids it, the phone needs none
    assert "&lt;b&gt;mayor&lt;/b&gt;" in page and "<b>mayor</b>" not in page
    for text in (
        "Kamera aktif",
        "SIARAN SIMULASI",
        "Poller kamera tidak berjalan",
        "WIB",
        "/glance/map.png",
        f"/api/cameras/{brief.strategic[0].camera_id}/thumb.jpg",
    ):
        assert text in page, text  # fmt: skip
    assert html_escape(cameras[1].props.name) in page  # the refused camera is listed
    english = render_glance(brief, Translator("en"), "Palembang", False, {"mode": "off"}, "m")
    assert "Cameras online" in english and "SIMULATED" not in english


def html_escape(text: str) -> str:
    import html

    return html.escape(text)
