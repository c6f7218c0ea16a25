"""The snapshot store: latest picture and thumbnail per camera, a bounded history, atomic writes.

Layout under ``root``: ``<camera id>/latest.jpg``, ``thumb.jpg``, ``latest.json`` (when it was taken
and what the image checks said) and ``history/<UTC yyyymmddThhmmss>.jpg``. Only a *good* picture
enters the store: not dark, not frozen, and different from the one before (the poller decides,
see ``poller.py``). So when a camera fails, goes dark or freezes, ``latest.jpg`` still holds the
last good picture and ``latest.json`` the time it was first seen: its true age. Every file is
written to a temporary name and renamed, so a reader never sees half a JPEG. History is bounded
per camera (count) and in total (bytes).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lawangjabo.fileio import write_bytes_atomic, write_text_atomic

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_STAMP = "%Y%m%dT%H%M%S"


@dataclass(frozen=True)
class SnapshotMeta:
    camera_id: str
    taken_at: datetime  # when this picture was first seen: the camera's last good picture
    width: int
    height: int
    low_detail: bool = False
    # The picture's image checks, so a restarted poller can tell the same picture again.
    mean_luma: float | None = None
    detail: float | None = None
    dhash: int | None = None
    signature: bytes = b""

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.taken_at).total_seconds()


class SnapshotStore:
    def __init__(
        self,
        root: Path,
        history_per_camera: int = 120,
        history_total_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        self.root = root
        self.history_per_camera = history_per_camera
        self.history_total_bytes = history_total_bytes
        self._prune_lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)

    def _dir(self, camera_id: str) -> Path:
        if not _SAFE_ID.match(camera_id):
            raise ValueError("unsafe camera id")
        return self.root / camera_id

    def save(
        self,
        camera_id: str,
        full_jpeg: bytes,
        thumb_jpeg: bytes,
        meta: SnapshotMeta,
        keep_history: bool = True,
    ) -> None:
        """Store a good frame: history first, then thumbnail, picture and metadata."""
        folder = self._dir(camera_id)
        if keep_history:
            stamp = meta.taken_at.astimezone(UTC).strftime(_STAMP)
            write_bytes_atomic(folder / "history" / f"{stamp}.jpg", full_jpeg)
        write_bytes_atomic(folder / "thumb.jpg", thumb_jpeg)
        write_bytes_atomic(folder / "latest.jpg", full_jpeg)
        write_text_atomic(
            folder / "latest.json",
            json.dumps(
                {
                    "camera_id": camera_id,
                    "taken_at": meta.taken_at.isoformat(),
                    "width": meta.width,
                    "height": meta.height,
                    "low_detail": meta.low_detail,
                    "mean_luma": meta.mean_luma,
                    "detail": meta.detail,
                    "dhash": meta.dhash,
                    "signature": meta.signature.hex(),
                }
            ),
        )
        if keep_history:
            self._prune(folder / "history")

    def latest_path(self, camera_id: str, thumb: bool = False) -> Path | None:
        path = self._dir(camera_id) / ("thumb.jpg" if thumb else "latest.jpg")
        return path if path.is_file() else None

    def meta(self, camera_id: str) -> SnapshotMeta | None:
        path = self._dir(camera_id) / "latest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return SnapshotMeta(
                camera_id=data["camera_id"],
                taken_at=datetime.fromisoformat(data["taken_at"]),
                width=int(data["width"]),
                height=int(data["height"]),
                low_detail=bool(data["low_detail"]),
                mean_luma=data.get("mean_luma"),
                detail=data.get("detail"),
                dhash=data.get("dhash"),
                signature=bytes.fromhex(data.get("signature") or ""),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def history(self, camera_id: str) -> list[datetime]:
        folder = self._dir(camera_id) / "history"
        stamps = []
        for path in folder.glob("*.jpg"):
            try:
                stamps.append(datetime.strptime(path.stem, _STAMP).replace(tzinfo=UTC))
            except ValueError:
                continue
        return sorted(stamps)

    def at(self, camera_id: str, when: datetime) -> tuple[datetime, Path] | None:
        """The stored picture taken closest to ``when`` at or before it (else the first after)."""
        stamps = self.history(camera_id)
        if not stamps:
            return None
        before = [s for s in stamps if s <= when]
        chosen = before[-1] if before else stamps[0]
        path = self._dir(camera_id) / "history" / f"{chosen.strftime(_STAMP)}.jpg"
        return chosen, path

    def _prune(self, folder: Path) -> None:
        files = sorted(folder.glob("*.jpg"))
        for path in files[: max(0, len(files) - self.history_per_camera)]:
            path.unlink(missing_ok=True)

    def prune_total(self, fraction: float = 1.0) -> int:
        """Delete the oldest history files until the store fits its byte budget (times
        ``fraction``: 0.5 when the disk is nearly full makes room before it fills)."""
        with self._prune_lock:
            files = []
            total = 0
            for path in self.root.glob("*/history/*.jpg"):
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                files.append((path.name, path, size))
                total += size
            removed = 0
            budget = self.history_total_bytes * fraction
            for _, path, size in sorted(files):
                if total <= budget:
                    break
                path.unlink(missing_ok=True)
                total -= size
                removed += 1
            if removed:
                log.info("snapshot history over budget: removed %d oldest files", removed)
            return removed
