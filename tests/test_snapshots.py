"""The snapshot store: atomic files under concurrent reads, last good frame, bounded history."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from lawangjabo.cameras.imaging import decode_jpeg, encode_jpeg
from lawangjabo.cameras.snapshots import SnapshotMeta, SnapshotStore

T0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def _meta(camera_id: str, when: datetime) -> SnapshotMeta:
    return SnapshotMeta(camera_id, when, 64, 48)


def _jpeg(seed: int, size: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    return encode_jpeg(rng.integers(0, 255, (size * 3 // 4, size, 3), dtype=np.uint8), 95)


def test_concurrent_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, history_per_camera=5)
    big = [_jpeg(i, 1024) for i in range(4)]  # ~1 MB each: a torn write would show
    store.save("cam-a", big[0], big[0], _meta("cam-a", T0), keep_history=False)
    stop = threading.Event()
    bad: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            path = store.latest_path("cam-a")
            assert path is not None
            data = path.read_bytes()
            if data not in big or decode_jpeg(data) is None:
                bad.append(f"{len(data)} bytes")
            reads += 1

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(200):
        data = big[i % 4]
        store.save(
            "cam-a", data, data, _meta("cam-a", T0 + timedelta(seconds=i)), keep_history=False
        )
    stop.set()
    thread.join()
    assert bad == [] and reads > 20
    assert not list(tmp_path.rglob("*.tmp"))


def test_last_good_frame_and_its_age(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    assert store.meta("cam-a") is None and store.latest_path("cam-a") is None
    store.save("cam-a", _jpeg(1), _jpeg(2, 32), _meta("cam-a", T0))
    meta = store.meta("cam-a")
    assert meta is not None and meta.taken_at == T0
    assert meta.age_s(T0 + timedelta(minutes=3)) == 180
    thumb = store.latest_path("cam-a", thumb=True)
    assert thumb is not None and thumb.read_bytes() == _jpeg(2, 32)


def test_history_is_bounded_and_answers_what_it_showed_at(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, history_per_camera=10)
    for minute in range(15):
        when = T0 + timedelta(minutes=minute)
        store.save("cam-a", _jpeg(minute), _jpeg(minute, 32), _meta("cam-a", when))
    stamps = store.history("cam-a")
    assert len(stamps) == 10 and stamps[0] == T0 + timedelta(minutes=5)
    found = store.at("cam-a", T0 + timedelta(minutes=7, seconds=40))
    assert found is not None
    taken, path = found
    assert taken == T0 + timedelta(minutes=7) and path.read_bytes() == _jpeg(7)
    early = store.at("cam-a", T0)  # before the oldest kept: the first one
    assert early is not None and early[0] == T0 + timedelta(minutes=5)


def test_total_budget_removes_oldest_first(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, history_per_camera=100, history_total_bytes=1)
    for cam in ("cam-a", "cam-b"):
        for minute in range(3):
            store.save(
                cam, _jpeg(minute), _jpeg(minute, 32), _meta(cam, T0 + timedelta(minutes=minute))
            )
    one = len(_jpeg(2))
    store.history_total_bytes = 2 * one
    removed = store.prune_total()
    assert removed == 4
    assert store.history("cam-a") == [T0 + timedelta(minutes=2)]
    assert store.history("cam-b") == [T0 + timedelta(minutes=2)]
    assert store.latest_path("cam-a") is not None  # latest pictures are never pruned


def test_a_nearly_full_disk_halves_the_history(tmp_path: Path) -> None:
    """With the disk nearly full the poller prunes to half the budget, making room first."""
    store = SnapshotStore(tmp_path, history_per_camera=100, history_total_bytes=1)
    for minute in range(8):
        store.save("cam-a", _jpeg(minute), _jpeg(minute, 32),
                   _meta("cam-a", T0 + timedelta(minutes=minute)))  # fmt: skip
    sizes = sorted(p.stat().st_size for p in (tmp_path / "cam-a" / "history").glob("*.jpg"))
    store.history_total_bytes = sum(sizes)  # exactly within budget: nothing to prune
    assert store.prune_total() == 0
    removed = store.prune_total(fraction=0.5)
    kept = sum(p.stat().st_size for p in (tmp_path / "cam-a" / "history").glob("*.jpg"))
    assert removed >= 3 and kept <= sum(sizes) / 2
    assert store.history("cam-a")[-1] == T0 + timedelta(minutes=7)  # the oldest went first


def test_unsafe_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        SnapshotStore(tmp_path).latest_path("../../etc")
