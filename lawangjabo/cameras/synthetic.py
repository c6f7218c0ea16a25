"""Synthetic camera registries inside the city, for benchmarks only (never the demo)."""

from __future__ import annotations

import random
from pathlib import Path

from lawangjabo.cameras.registry import Camera, CameraProperties, Stream, write_registry
from lawangjabo.config import Settings

PROTOCOLS = ("mjpeg", "jpeg", "hls", "rtsp")


def synthetic_cameras(settings: Settings, count: int, seed: int) -> list[Camera]:
    """``count`` plausible cameras at random points in the city bbox, reproducible by ``seed``."""
    if count < 1:
        raise ValueError("count must be positive")
    rng = random.Random(seed)
    bbox = settings.city.bbox
    owners = [a.id for a in settings.agencies]
    cameras = []
    for i in range(count):
        protocol = PROTOCOLS[i % len(PROTOCOLS)]
        props = CameraProperties(
            id=f"syn-{seed}-{i:05d}",
            name=f"Synthetic camera {i}",
            owner=rng.choice(owners),
            kind=rng.choice(("fixed", "ptz")),
            heading_deg=float(rng.randrange(0, 360)),
            fov_deg=float(rng.choice((45, 60, 70, 90, 360))),
            range_m=float(rng.choice((60, 80, 120, 200))),
            estimated=["heading_deg", "fov_deg", "range_m"],
            stream=Stream(
                url=f"http://127.0.0.1:8700/cam/syn-{i:05d}.{protocol}", protocol=protocol
            ),
            source=f"synthetic (seed {seed}) — benchmarks only",
            verified=False,
            confidence="low",
            tags=["synthetic"],
        )
        lon = rng.uniform(bbox.west, bbox.east)
        lat = rng.uniform(bbox.south, bbox.north)
        cameras.append(Camera(props, round(lon, 6), round(lat, 6)))
    return cameras


def synthetic_registry(settings: Settings, count: int, seed: int, out: Path) -> None:
    write_registry(out, synthetic_cameras(settings, count, seed), name=f"synthetic-{count}")
