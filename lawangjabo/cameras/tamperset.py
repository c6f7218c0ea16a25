"""A labelled set of tampered and normal pictures from the simulator's scenes, to measure the
tamper checks (``benchmarks/tamper.py``, tests): what the lens sees is changed, the camera's
on-screen text is not (it is drawn after the lens)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from lawangjabo.cameras.cv import cv2
from lawangjabo.cameras.imaging import Frame, decode_jpeg, encode_jpeg, resize_to_width
from lawangjabo.cameras.simulator import (
    HEIGHT,
    WIDTH,
    SimCamera,
    overlay,
    render_scene,
    road_view,
)

Tamper = Literal["moved", "blurred", "covered"]
Label = Literal["normal", "moved", "blurred", "covered"]


def render_tampered(
    camera: SimCamera, when: datetime, t: float, kind: Tamper, rng: np.random.Generator
) -> Frame:
    """The camera's picture after someone or something interfered with it (its on-screen text
    unchanged): *moved* (turned or knocked: the view shifted and tilted, or another view),
    *blurred* (out of focus, rain or grease on the lens), *covered* (a bag, a hand, a sticker:
    mostly one colour, lit, not dark)."""
    if kind == "moved":
        dy = float(rng.uniform(0.08, 0.25)) * HEIGHT * float(rng.choice((-1, 1)))
        if rng.random() < 0.3:  # turned to another street (a knocked camera keeps no tilt)
            lens = road_view(f"{camera.id}/elsewhere-{int(rng.integers(1000))}", when, t)
            turn: NDArray[Any] = np.array([[1, 0, 0], [0, 1, dy]], dtype=np.float64)
        else:  # turned and tilted on its mount
            lens = road_view(camera.id, when, t)
            dx = float(rng.uniform(0.2, 0.45)) * WIDTH * float(rng.choice((-1, 1)))
            turn = np.asarray(
                cv2.getRotationMatrix2D((WIDTH / 2, HEIGHT / 2), float(rng.uniform(-12, 12)), 1.0)
            )
            turn[:, 2] += (dx, dy)
        lens = cv2.warpAffine(lens, turn, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REFLECT)
    elif kind == "blurred":
        lens = cv2.GaussianBlur(road_view(camera.id, when, t), (0, 0), float(rng.uniform(4, 9)))
    else:
        colour = rng.integers(50, 200, size=3).astype(np.float32)
        ramp = np.linspace(float(rng.uniform(0.8, 1.0)), 1.0, WIDTH, dtype=np.float32)
        lens = colour[None, None, :] * ramp[None, :, None] * np.ones((HEIGHT, 1, 1), np.float32)
        lens += rng.normal(0, 3, size=lens.shape).astype(np.float32)
        if rng.random() < 0.4:  # a gap at the edge lets a strip of the scene through
            strip = int(rng.uniform(0.05, 0.15) * HEIGHT)
            lens[:strip] = road_view(camera.id, when, t)[:strip]
        lens = np.clip(lens, 0, 255).astype(np.uint8)
    return overlay(camera, when, np.ascontiguousarray(lens))


# Times of day the set covers: night, dusk and day (Palembang's light at WIB).
LIGHTS = {"night": (20, 23, 1, 4), "dusk": (7, 17), "day": (10, 12, 14)}


@dataclass(frozen=True)
class Sample:
    camera_id: str
    label: Label
    light: str
    thumbnail: Frame  # as the sweep stores it: 320 px wide, JPEG quality 75


def thumbnail(frame: Frame, width: int = 320) -> Frame:
    """The sweep's thumbnail of a frame (resized, JPEG round trip)."""
    small = decode_jpeg(encode_jpeg(resize_to_width(frame, width), 75))
    assert small is not None
    return small


def _when(day: datetime, light: str, rng: np.random.Generator) -> datetime:
    hours = LIGHTS[light]
    return day.replace(hour=int(rng.choice(hours)), minute=int(rng.integers(0, 60)))


def learning_pictures(
    camera: SimCamera, day: datetime, per_light: int, rng: np.random.Generator
) -> Iterator[Frame]:
    """Good pictures of a normal day, ``per_light`` at each light: what a reference learns."""
    for light in LIGHTS:
        for _ in range(per_light):
            when = _when(day, light, rng)
            yield thumbnail(render_scene(camera, when, float(rng.uniform(0, 600))))


def labelled_set(
    cameras: int = 20, normal: int = 9, per_kind: int = 3, seed: int = 7
) -> tuple[dict[str, list[Frame]], list[Sample]]:
    """(pictures to learn from per camera, samples): for each camera ``normal`` normal pictures
    and ``per_kind`` of each tamper at random lights, on the day after the learning day."""
    rng = np.random.default_rng(seed)
    day = datetime(2026, 12, 1, tzinfo=ZoneInfo("Asia/Jakarta"))
    learn: dict[str, list[Frame]] = {}
    samples: list[Sample] = []
    for i in range(cameras):
        camera = SimCamera(f"sim-tamper-{i:03d}", f"Kamera uji {i}")
        learn[camera.id] = list(learning_pictures(camera, day, 5, rng))
        test_day = day + timedelta(days=1)
        kinds: list[Label] = ["moved", "blurred", "covered"]
        normals: list[Label] = ["normal"] * normal
        labels = normals + kinds * per_kind
        for label in labels:
            light = str(rng.choice(list(LIGHTS)))
            when = _when(test_day, light, rng)
            t = float(rng.uniform(0, 600))
            frame = (
                render_scene(camera, when, t)
                if label == "normal"
                else render_tampered(camera, when, t, label, rng)
            )
            samples.append(Sample(camera.id, label, light, thumbnail(frame)))
    return learn, samples
