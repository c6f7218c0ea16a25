"""Image checks over numpy frames: dark, low detail, frozen, hashes, thumbnails."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from lawangjabo.cameras.imaging import (
    check_frame,
    decode_jpeg,
    encode_jpeg,
    hamming,
    resize_to_width,
    unchanged,
)
from lawangjabo.cameras.simulator import SimCamera, render_dark, render_scene

CAM = SimCamera("t", "Test camera")
NOON = datetime(2026, 11, 27, 12, 0)
MIDNIGHT = datetime(2026, 11, 27, 0, 30)


def test_day_scene_is_bright_and_detailed() -> None:
    checks = check_frame(render_scene(CAM, NOON, 1.0))
    assert not checks.dark and not checks.low_detail


def test_night_scene_is_not_mistaken_for_a_dead_camera() -> None:
    checks = check_frame(render_scene(CAM, MIDNIGHT, 1.0))
    assert not checks.dark, checks.mean_luma  # lit windows and headlights
    assert not checks.low_detail


def test_black_frame_is_dark_and_low_detail() -> None:
    checks = check_frame(render_dark(CAM, 1.0))
    assert checks.dark and checks.low_detail


def test_blurred_frame_is_low_detail() -> None:
    from lawangjabo.cameras.cv import cv2

    frame = render_scene(CAM, NOON, 1.0)
    fog = cv2.GaussianBlur(frame, (0, 0), 25)
    assert check_frame(fog).low_detail
    assert not check_frame(fog).dark


def test_moving_scene_is_not_frozen_but_a_repeat_is() -> None:
    a = check_frame(render_scene(CAM, NOON, 1.0))
    b = check_frame(render_scene(CAM, NOON, 2.5))
    assert not unchanged(a, b)
    again = check_frame(decode_jpeg(encode_jpeg(render_scene(CAM, NOON, 1.0), 70)))  # type: ignore[arg-type]
    assert unchanged(a, again)  # re-encoding noise is not motion
    assert not unchanged(None, a)


def test_dhash_survives_scaling_and_differs_between_scenes() -> None:
    frame = render_scene(CAM, NOON, 1.0)
    small = resize_to_width(frame, 320)
    assert hamming(check_frame(frame).dhash, check_frame(small).dhash) <= 4
    other = render_scene(SimCamera("x", "Another"), NOON, 7.0)
    assert hamming(check_frame(frame).dhash, check_frame(other).dhash) > 8


def test_thumbnail_keeps_aspect_and_never_enlarges() -> None:
    frame = np.zeros((1080, 1920, 3), dtype=np.uint8)
    assert resize_to_width(frame, 320).shape == (180, 320, 3)
    assert resize_to_width(frame[:100, :200], 320).shape == (100, 200, 3)


def test_decode_rejects_non_images() -> None:
    assert decode_jpeg(b"") is None
    assert decode_jpeg(b"<html>") is None
    frame = decode_jpeg(encode_jpeg(render_scene(CAM, NOON, 0.0)))
    assert frame is not None and frame.shape == (360, 640, 3)
