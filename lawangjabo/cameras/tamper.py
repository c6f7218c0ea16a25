"""Tamper checks on a camera's thumbnails against its reference view: pure numpy/OpenCV.

Beside *dark* and *frozen* (``imaging.py``), a picture can arrive, change, be lit and still show
nothing useful:

- **covered** — mostly one flat colour, but lit (a bag, a hand, a sticker, a cloth), and far
  flatter than the camera's own pictures nearest in light (a quiet street at night is flat too);
- **blurred** — the lens out of focus, rain or grease on it: the scene's fine detail is gone
  while its layout stays (the camera's own on-screen text stays sharp: it is drawn after the
  lens, so sharpness is judged per tile and the median tile decides);
- **moved** — the scene no longer matches what this camera normally sees (knocked, turned,
  a PTZ left away from home). Judged on the direction of the edges, which a change of light
  (day, dusk, night) keeps, against the camera's reference views.

A reference is learnt from good pictures (:class:`Reference`): up to 24 of them, kept spread
over the lights the camera has been seen in (day, dusk and night look different). At a light it
has not been seen in yet (its first night) only a plain blur is named, never a move: the check
says only what it can know, and a camera knocked before its reference knows that light is learnt
as it then looks. Measured on the simulator's labelled set by ``benchmarks/tamper.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from lawangjabo.cameras.cv import cv2
from lawangjabo.cameras.imaging import DARK_MEAN, Frame

TamperKind = Literal["moved", "blurred", "covered"]

EDGE_SIZE = (64, 36)  # the edge field's grid (a 16:9 picture)
SHARP_WIDTH = 160  # sharpness is measured on this copy, in a 4×4 grid of tiles
GRID = 4
COVERED_TILES = 0.68  # share of tiles that are flat and alike ...
COVERED_MARGIN = 0.3  # ... and this much more of them than in the camera's own pictures
COVERED_OUTRIGHT = 0.9  # with fewer than 2 pictures of its own: this share, outright
FLAT_SPREAD = 8.0  # a tile whose middle half of lumas spans less than this is flat (0..255)
ALIKE = 18.0  # flat tiles whose mean luma is within this of their median are one surface
BLURRED_RATIO = 0.3  # median tile sharpness below this share of the reference's
BLURRED_FLOOR = 0.2  # ... or, at a light with no reference yet, below this outright
MOVED_MATCH = 0.5  # edge agreement with the best exemplar below this: moved
MOVED_LIGHT = 30.0  # moves are judged when an exemplar's mean luma is within this
MIN_EXEMPLARS = 5  # a reference judges blur and moves from this many good pictures on
LUMA_BAND = 10.0  # a picture is compared with exemplars within this mean luma (0..255)
MAX_EXEMPLARS = 24


@dataclass(frozen=True)
class Features:
    """What the checks need of one thumbnail (computed once, ~0.2 ms)."""

    luma: float
    edge_axes: NDArray[np.complex64]  # per tile: squared gradient (gx + i·gy)², unit norm
    tile_energy: NDArray[np.float64]  # per tile: how much edge there is
    tile_sharpness: NDArray[np.float64]  # per tile: fine detail / coarser detail
    tile_spread: NDArray[np.float64]  # per tile: interquartile range of luma (text ignored)
    tile_mean: NDArray[np.float64]

    @property
    def sharpness(self) -> float:
        return float(np.median(self.tile_sharpness))

    @cached_property
    def surface(self) -> float:
        """The share of tiles that are flat and of about one light (1: one flat surface)."""
        flat = self.tile_spread < FLAT_SPREAD
        if not flat.any():
            return 0.0
        middle = float(np.median(self.tile_mean[flat]))
        return float((flat & (np.abs(self.tile_mean - middle) < ALIKE)).mean())


def _gray(frame: Frame) -> NDArray[Any]:
    if frame.ndim == 2:
        return frame
    gray: NDArray[Any] = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return gray


def _tiles(values: NDArray[Any]) -> NDArray[Any]:
    h, w = values.shape[:2]
    th, tw = h // GRID, w // GRID
    cut = values[: th * GRID, : tw * GRID]
    return cut.reshape(GRID, th, GRID, tw).swapaxes(1, 2).reshape(GRID * GRID, th * tw)


def _tile_means(values: NDArray[np.float32]) -> NDArray[np.float64]:
    means: NDArray[Any] = cv2.resize(values, (GRID, GRID), interpolation=cv2.INTER_AREA)
    return means.reshape(-1).astype(np.float64)


def features(frame: Frame) -> Features:
    """The thumbnail's light, edge field and per-tile sharpness and flatness."""
    h, w = frame.shape[:2]
    size = (SHARP_WIDTH, max(GRID, round(h * SHARP_WIDTH / w)))
    small = _gray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA)).astype(np.float32)
    soft = cv2.GaussianBlur(small, (0, 0), 1.0)
    fine, coarse = small - soft, soft - cv2.GaussianBlur(small, (0, 0), 3.0)
    # tile variances of the two bands (their means are ~0): means of the squares
    tile_sharpness = (_tile_means(fine * fine) + 1e-3) / (_tile_means(coarse * coarse) + 1.0)
    grid = cv2.resize(small, EDGE_SIZE, interpolation=cv2.INTER_AREA)
    gx = cv2.Sobel(grid, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grid, cv2.CV_32F, 0, 1, ksize=3)
    edge_axes, tile_energy = _axes((gx + 1j * gy).astype(np.complex64))
    cells = np.sort(_tiles(grid), axis=1)  # per tile, its lumas in order (16×9 of them)
    quarter = cells.shape[1] // 4
    return Features(
        luma=float(grid.mean()),
        edge_axes=edge_axes,
        tile_energy=tile_energy,
        tile_sharpness=tile_sharpness,
        tile_spread=(cells[:, -quarter - 1] - cells[:, quarter]).astype(np.float64),
        tile_mean=cells[:, cells.shape[1] // 2].astype(np.float64),
    )


def _axes(edges: NDArray[np.complex64]) -> tuple[NDArray[np.complex64], NDArray[np.float64]]:
    """Per tile: the squared gradients (directions as axes), unit norm; and the tile's energy."""
    tiles = _tiles(edges * edges)
    norm = np.sqrt((np.abs(tiles) ** 2).sum(axis=1, keepdims=True)) + 1e-12
    return (tiles / norm).astype(np.complex64), np.abs(tiles).sum(axis=1).astype(np.float64)


def _per_tile(picture: NDArray[np.complex64], refs: NDArray[np.complex64]) -> NDArray[Any]:
    """Per reference and tile: how well the directions of the edges agree (0..1)."""
    agree: NDArray[Any] = np.abs(np.einsum("tc,ntc->nt", np.conj(picture), refs))
    return agree


def _median_of(values: NDArray[Any], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Per row, the (lower) median of the values where ``mask`` holds (0 where none does)."""
    ordered = np.sort(np.where(mask, values, np.inf), axis=1)  # the left-out tiles last
    middle = np.maximum((mask.sum(axis=1) - 1) // 2, 0)
    result = ordered[np.arange(len(values)), middle]
    return np.where(mask.any(axis=1), result, 0.0).astype(np.float64)


@dataclass
class Reference:
    """A camera's reference: up to MAX_EXEMPLARS of its good pictures (the home view for a
    PTZ), kept spread over the lights it has been seen in (night, dusk, day), so a picture is
    compared with the camera's own view at about its light."""

    exemplars: list[Features] = field(default_factory=list)
    _stack: tuple[NDArray[np.complex64], NDArray[np.bool_]] | None = field(default=None, repr=False)

    def learn(self, picture: Features) -> None:
        """Add a good, untampered picture. When full, one of the two pictures closest in light
        goes (the older), so every light keeps an example and slow change is followed."""
        self._stack = None
        self.exemplars.append(picture)
        if len(self.exemplars) <= MAX_EXEMPLARS:
            return
        lumas = [p.luma for p in self.exemplars]
        gaps = [
            min(abs(lumas[i] - lumas[j]) for j in range(len(lumas)) if j != i)
            for i in range(len(lumas))
        ]
        self.exemplars.pop(gaps.index(min(gaps)))  # the first (oldest) of the closest pair

    def stacked(self) -> tuple[NDArray[np.complex64], NDArray[np.bool_]]:
        """The exemplars' edge tiles, and which tiles of each have structure (worked out once)."""
        if self._stack is None:
            refs = np.stack([e.edge_axes for e in self.exemplars])
            energy = np.stack([e.tile_energy for e in self.exemplars])
            self._stack = (refs, energy >= 0.25 * energy.mean(axis=1, keepdims=True))
        return self._stack

    def agreement(self, picture: Features) -> float:
        """How well the picture's edges line up with the best exemplar's, 1 (the same) to ~0
        (unrelated): per exemplar the median over the tiles where it has structure, so the
        on-screen text in two or three tiles neither saves a moved picture nor sinks a good
        one. Directions are compared as axes: an edge that turned from light-on-dark to
        dark-on-light at night still agrees."""
        refs, textured = self.stacked()
        return float(_median_of(_per_tile(picture.edge_axes, refs), textured).max())

    def nearest(self, luma: float, most: int = 3) -> list[Features]:
        """The ``most`` exemplars nearest in light."""
        return sorted(self.exemplars, key=lambda p: abs(p.luma - luma))[:most]

    def near(self, luma: float, most: int = 3) -> list[Features]:
        """The ``most`` exemplars nearest in light, within LUMA_BAND of it."""
        return [p for p in self.nearest(luma, most) if abs(p.luma - luma) <= LUMA_BAND]


def covered(picture: Features, reference: Reference | None = None) -> bool:
    """Mostly one flat, lit surface where the camera normally shows more. Against its own
    pictures at about this light when it has them (a quiet street at night is flat and alike
    too: a fresh full run once called a simulated night street 'covered' at its first poll);
    without them, only a picture that is one surface outright."""
    if picture.luma < DARK_MEAN:
        return False  # dark is its own state
    share = picture.surface
    if reference is None or len(reference.exemplars) < 2:
        return share >= COVERED_OUTRIGHT
    closest = reference.nearest(picture.luma)
    usual = float(np.median([p.surface for p in closest]))  # its own, nearest in light
    return share >= COVERED_TILES and share - usual >= COVERED_MARGIN


def classify(picture: Features, reference: Reference) -> TamperKind | None:
    """The tamper state of a good-looking picture (neither dark nor frozen), or None."""
    if covered(picture, reference):
        return "covered"
    if len(reference.exemplars) < MIN_EXEMPLARS:
        return None  # not learnt yet: say nothing rather than guess
    near = reference.near(picture.luma)
    if len(near) >= 2:  # against the camera's own sharpness at about this light
        if picture.sharpness < BLURRED_RATIO * float(np.median([p.sharpness for p in near])):
            return "blurred"
    elif picture.sharpness < BLURRED_FLOOR:  # a light not seen yet: only plain blur is certain
        return "blurred"
    # A move changes the light a little (more sky, less road); a light far from any seen (the
    # first night) is not judged: looking unlike noon is not having moved.
    seen = any(abs(e.luma - picture.luma) <= MOVED_LIGHT for e in reference.exemplars)
    if seen and reference.agreement(picture) < MOVED_MATCH:
        return "moved"
    return None
