"""Pure image functions over numpy arrays (BGR frames): thumbnails, JPEG, checks, hashes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lawangjabo.cameras.cv import cv2

Frame = NDArray[Any]  # BGR uint8 image, as OpenCV gives it

DARK_MEAN = 22.0  # mean luma below this (0..255) is a dark/black frame
LOW_DETAIL = 8.0  # variance of the Laplacian below this: blur, fog, lens covered
FROZEN_DIFF = 0.6  # mean absolute difference (0..255) of the small signature


@dataclass(frozen=True)
class ImageChecks:
    """What a frame says about the camera, besides being a frame."""

    mean_luma: float
    detail: float
    dhash: int
    signature: bytes  # 32×18 grayscale, to tell an unchanged picture from a live one

    @property
    def dark(self) -> bool:
        return self.mean_luma < DARK_MEAN

    @property
    def low_detail(self) -> bool:
        return self.detail < LOW_DETAIL


def _gray(frame: Frame) -> Frame:
    if frame.ndim == 2:
        return frame
    gray: Frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return gray


def resize_to_width(frame: Frame, width: int) -> Frame:
    """Scale to ``width`` px keeping the aspect ratio (never enlarges)."""
    h, w = frame.shape[:2]
    if w <= width:
        return frame
    height = max(1, round(h * width / w))
    small: Frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return small


def encode_jpeg(frame: Frame, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf.tobytes())


def decode_jpeg(data: bytes) -> Frame | None:
    """Decode JPEG (or PNG) bytes; None if they are not an image."""
    if not data:
        return None
    frame = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    return frame if frame is not None and frame.size else None


def dhash(gray: Frame, size: int = 8) -> int:
    """64-bit difference hash: robust to scaling and small re-encoding noise."""
    small = cv2.resize(gray, (size + 1, size), interpolation=cv2.INTER_AREA)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def check_frame(frame: Frame) -> ImageChecks:
    gray = _gray(resize_to_width(frame, 640))
    # Edges, not sensor noise: measured on a smoothed 320-px copy.
    smooth = cv2.GaussianBlur(resize_to_width(gray, 320), (5, 5), 0)
    detail = float(cv2.Laplacian(smooth, cv2.CV_64F).var())
    signature = cv2.resize(gray, (32, 18), interpolation=cv2.INTER_AREA)
    return ImageChecks(
        mean_luma=float(gray.mean()),
        detail=detail,
        dhash=dhash(gray),
        signature=bytes(signature.tobytes()),
    )


def unchanged(previous: ImageChecks | None, current: ImageChecks) -> bool:
    """True when two polls returned the same picture (a frozen feed)."""
    if previous is None or len(previous.signature) != len(current.signature):
        return False
    a = np.frombuffer(previous.signature, dtype=np.uint8).astype(np.int16)
    b = np.frombuffer(current.signature, dtype=np.uint8).astype(np.int16)
    return hamming(previous.dhash, current.dhash) <= 3 and float(np.abs(a - b).mean()) < FROZEN_DIFF
