"""Health truth end to end: the simulator's scripted faults, polled for real, never give a
frozen or dark camera a fresh 'last good' picture; its age only grows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lawangjabo.cameras.poller import SweepStats
from lawangjabo.cameras.registry import load_registry
from lawangjabo.cameras.runtime import PollerRuntime
from lawangjabo.config import PROJECT_ROOT, PathsConfig, load_settings
from lawangjabo.i18n import Translator
from lawangjabo.server.services import Services
from lawangjabo.views.healthview import tiles

FROZEN, DARK, GOOD = "plg-cam42-sp-bom-baru", "plg-cam45-sp-bandara", "plg-cam3-sp-polda"


def test_frozen_and_dark_ages_grow_and_never_reset(tmp_path: Path) -> None:
    # 0.5 s polls for 7 s: 14 rounds, as many as 7 minutes at the default 30 s.
    settings = load_settings(
        paths=PathsConfig(state_dir=tmp_path / "state"),
        cameras={"simulate": True, "interval_s": 1, "timeout_s": 1, "frozen_after_polls": 3},
    )
    settings = settings.model_copy(
        update={"cameras": settings.cameras.model_copy(update={"interval_s": 0.5})}
    )
    cameras = load_registry(PROJECT_ROOT / "cameras.geojson", settings).cameras
    services = Services(settings)
    runtime = PollerRuntime(settings, cameras).start()
    assert runtime.poller is not None
    rounds: list[SweepStats] = []
    runtime.poller.on_sweep = rounds.append
    t = Translator("en")
    seen: dict[str, list[float | None]] = {FROZEN: [], DARK: [], GOOD: []}
    first_seen = None
    try:
        time.sleep(2.0)
        for _ in range(10):
            time.sleep(0.5)
            by_id = {tile.camera_id: tile for tile in tiles(services)}
            for camera_id, ages in seen.items():
                ages.append(by_id[camera_id].last_good_age_s)
            frozen = by_id[FROZEN]
            first_seen = first_seen or frozen.last_good_at
            assert frozen.last_good_at == first_seen  # the same picture, the same time
    finally:
        runtime.stop()
        services.close()
    frozen_ages = [a for a in seen[FROZEN] if a is not None]
    assert len(frozen_ages) == 10 and frozen_ages == sorted(frozen_ages)
    assert frozen_ages[-1] - frozen_ages[0] >= 4.0  # it aged with the clock
    assert seen[DARK] == [None] * 10  # black from the start: no good picture, ever
    good = [a for a in seen[GOOD] if a is not None]
    assert len(good) == 10 and max(good) < 2.0  # a live camera stays fresh
    health = services_state(settings)
    assert health[FROZEN] == "frozen" and health[DARK] == "dark"
    final = {tile.camera_id: tile for tile in tiles(Services(settings))}
    assert "last good frame" in final[FROZEN].caption(t)
    assert final[DARK].picture_text(t) == "no good picture yet"
    # The round report counts what it saw by verdict, not "ok" for a frame that arrived.
    assert sum(r.frozen for r in rounds) >= 5 and sum(r.dark for r in rounds) >= 5, rounds
    assert sum(r.ok for r in rounds) < sum(r.polled for r in rounds)


def services_state(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The ledger's states as of its last poll. Not 'now': with polls every 0.5 s a camera is
    'stale' 1 s after the poller stopped, and a busy machine spends that stopping it (a fresh
    full run once saw the frozen camera as stale)."""
    from lawangjabo.cameras.ledger import current_health

    services = Services(settings)
    try:
        services.ingest()
        db = services.db
        assert db is not None
        last = db.execute("SELECT max(polled_at) FROM poll_outcomes")[0][0]
        cams = settings.cameras
        health = current_health(db, last, cams.interval_s, cams.offline_after_s)
        return {cid: h.state for cid, h in health.items()}
    finally:
        services.close()


@pytest.mark.parametrize("lang", ["en", "id"])
def test_picture_wording_is_one_definition(lang: str) -> None:
    from datetime import UTC, datetime, timedelta

    from lawangjabo.views.healthview import Tile

    t = Translator(lang)
    now = datetime.now(UTC)
    frozen = Tile("c", "C", "A", "K", "frozen", 1140.0, None, now - timedelta(seconds=1140))
    online = Tile("c", "C", "A", "K", "online", 3.0, None, now - timedelta(seconds=3))
    never = Tile("c", "C", "A", "K", "offline", None, "timeout", None)
    assert frozen.last_good_at is not None
    assert t.age(1140) in frozen.caption(t) and t.clock(frozen.last_good_at) in frozen.caption(t)
    assert online.picture_text(t) != frozen.picture_text(t)
    assert t.gettext("timeout") in never.caption(t)
