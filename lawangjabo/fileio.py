"""Small file helpers shared by the core."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never a part.

    ``durable`` also flushes to disk before the rename (survives a power cut); snapshots, which
    are replaced every few seconds, skip it: the rename alone keeps readers safe.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, durable: bool = True) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), durable)


def free_mb(path: Path) -> float:
    """Free space (MB) on the file system holding ``path`` (or its nearest existing parent);
    infinite if it cannot be measured (so an unmeasurable disk never reads as full)."""
    for place in (path, *path.parents):
        try:
            return shutil.disk_usage(place).free / 1_048_576
        except OSError:
            continue
    return float("inf")
