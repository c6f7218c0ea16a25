"""Tamper checks (moved, blurred, covered) on the simulator's thumbnails, against a reference."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from lawangjabo.cameras.simulator import SimCamera, render_dark, render_scene
from lawangjabo.cameras.tamper import MAX_EXEMPLARS, Reference, classify, covered, features
from lawangjabo.cameras.tamperset import (
    Tamper,
    labelled_set,
    learning_pictures,
    render_tampered,
    thumbnail,
)

CAM = SimCamera("plg-cam-uji", "Simpang Charitas")
DAY = datetime(2026, 12, 1, tzinfo=ZoneInfo("Asia/Jakarta"))
NEXT = DAY + timedelta(days=1)


@pytest.fixture(scope="module")
def reference() -> Reference:
    learnt = Reference()
    for picture in learning_pictures(CAM, DAY, 5, np.random.default_rng(1)):
        learnt.learn(features(picture))
    return learnt


@pytest.mark.parametrize("hour", [2, 7, 11, 17, 22])
def test_a_normal_picture_at_any_light_is_not_tampered(reference: Reference, hour: int) -> None:
    picture = thumbnail(render_scene(CAM, NEXT.replace(hour=hour, minute=20), 123.0))
    assert classify(features(picture), reference) is None


@pytest.mark.parametrize("kind", ["moved", "blurred", "covered"])
def test_each_tamper_is_named(reference: Reference, kind: Tamper) -> None:
    rng = np.random.default_rng(5)
    pictures = [render_tampered(CAM, NEXT.replace(hour=h), 9.0, kind, rng) for h in (11, 14)]
    said = [classify(features(thumbnail(p)), reference) for p in pictures]
    assert said == [kind, kind]


def test_dark_is_not_covered_and_nothing_is_judged_before_learning() -> None:
    dark = features(thumbnail(render_dark(CAM, 1.0)))
    assert not covered(dark)  # a dark picture is the 'dark' state, not a cover
    blurred = render_tampered(CAM, NEXT.replace(hour=11), 3.0, "blurred", np.random.default_rng(2))
    moved = render_tampered(CAM, NEXT.replace(hour=11), 3.0, "moved", np.random.default_rng(3))
    empty = Reference()
    assert classify(features(thumbnail(blurred)), empty) is None
    assert classify(features(thumbnail(moved)), empty) is None
    cover = render_tampered(CAM, NEXT.replace(hour=11), 3.0, "covered", np.random.default_rng(4))
    assert classify(features(thumbnail(cover)), empty) == "covered"  # needs no reference


def test_a_light_not_seen_yet_judges_only_plain_blur() -> None:
    """Learnt by day only: a normal night picture is not called moved or blurred."""
    by_day = Reference()
    for minute in range(0, 50, 10):
        picture = render_scene(CAM, DAY.replace(hour=12, minute=minute), minute * 3.0)
        by_day.learn(features(thumbnail(picture)))
    night = features(thumbnail(render_scene(CAM, NEXT.replace(hour=23), 42.0)))
    assert by_day.near(night.luma) == []
    assert classify(night, by_day) is None  # not called moved for looking unlike noon
    rng = np.random.default_rng(6)
    out_of_focus = render_tampered(CAM, NEXT.replace(hour=23), 42.0, "blurred", rng)
    assert classify(features(thumbnail(out_of_focus)), by_day) == "blurred"  # plain blur is sure


def test_the_reference_keeps_every_light_when_full(reference: Reference) -> None:
    learnt = Reference(list(reference.exemplars))
    for minute in range(60):  # an hour of noon pictures
        picture = render_scene(CAM, NEXT.replace(hour=12, minute=minute), minute * 7.0)
        learnt.learn(features(thumbnail(picture)))
    assert len(learnt.exemplars) == MAX_EXEMPLARS
    lumas = sorted(e.luma for e in learnt.exemplars)
    assert lumas[0] < 60 and lumas[-1] > 100  # night and day both still there


def test_the_labelled_set_is_told_apart_quickly() -> None:
    """The benchmark's measure on a small set (``benchmarks/tamper.py`` prints the figures):
    precision and recall of 'tampered at all' and per kind, and a gross time guard."""
    learn, samples = labelled_set(cameras=6, normal=6, per_kind=2, seed=11)
    references = {cid: Reference() for cid in learn}
    for cid, pictures in learn.items():
        for picture in pictures:
            references[cid].learn(features(picture))
    started = time.perf_counter()
    said = [classify(features(s.thumbnail), references[s.camera_id]) or "normal" for s in samples]
    per_thumbnail_ms = (time.perf_counter() - started) * 1000 / len(samples)
    truth = [s.label for s in samples]
    tampered = [(t != "normal", s != "normal") for t, s in zip(truth, said, strict=True)]
    hits = sum(1 for t, s in tampered if t and s)
    assert hits / sum(1 for t, _ in tampered if t) >= 0.9  # recall
    assert hits / max(1, sum(1 for _, s in tampered if s)) >= 0.9  # precision
    assert sum(1 for t, s in zip(truth, said, strict=True) if t == s) / len(truth) >= 0.85
    assert per_thumbnail_ms < 5 * 1.0  # target 1 ms; a gross guard only


def test_a_tampered_tile_says_what_was_done() -> None:
    from lawangjabo.i18n import Translator
    from lawangjabo.views.healthview import Tile

    taken = datetime(2026, 12, 3, 5, 0, tzinfo=ZoneInfo("UTC"))
    tile = Tile("c", "C", "Dishub", "Ilir Timur I", "tampered", 61.0, "covered", taken)
    assert tile.state_text(Translator("en")) == "TAMPERED · lens covered"
    assert tile.state_text(Translator("id")) == "DIGANGGU · lensa tertutup"
    assert "last good frame" in tile.caption(Translator("en"))


def test_a_quiet_night_street_is_not_a_covered_lens() -> None:
    """Without pictures of its own, only a picture that is one surface outright is 'covered'
    (a fresh full run once called a simulated night street covered at its first poll); with
    them, a cover must be much flatter than the camera's own pictures at about that light."""
    night = datetime(2026, 12, 4, 1, 30, tzinfo=ZoneInfo("Asia/Jakarta"))
    empty = Reference()
    for i in range(20):
        camera = SimCamera(f"cam-{i:02d}", f"Cam {i}")
        for t in (0.0, 97.0, 211.0, 389.0):
            assert classify(features(thumbnail(render_scene(camera, night, t))), empty) is None
    learnt = Reference()
    for minute in range(0, 50, 10):
        learnt.learn(features(thumbnail(render_scene(CAM, night.replace(minute=minute), 7.0))))
    rng = np.random.default_rng(8)
    cover = features(thumbnail(render_tampered(CAM, night, 7.0, "covered", rng)))
    assert cover.surface - np.median([e.surface for e in learnt.exemplars]) >= 0.3
    assert classify(cover, learnt) == "covered"
