"""Imports in bounded memory (issue 22, item 3): a file read, checked and written a chunk at a
time inside one transaction — duplicates and stored ids seen across chunks, all or nothing,
a file that breaks off further in writes nothing, leaving rolls back, problems counted past
the listed ones — and one import at a time per process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lawangjabo.incidents import files
from lawangjabo.incidents.files import FirstRows, import_incidents, read_incidents
from lawangjabo.incidents.store import IncidentStore
from lawangjabo.incidents.turns import ImportTurns

HEADER = "no_laporan;waktu;kategori;prioritas;lat;lon;keterangan\n"


def _row(n: int, category: str = "macet", external: str | None = None) -> str:
    lat, lon = f"{-2.99 + n * 1e-5:.5f}".replace(".", ","), "104,75000"
    return f"{external or f'112-{n:05d}'};01/10/2026 08.{n % 60:02d};{category};P2;{lat};{lon};x\n"


def _file(tmp_path: Path, rows: list[str], name: str = "calls.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(files, "CHUNK_ROWS", 7)
    return 7


def test_chunks_are_written_in_one_transaction(
    store: IncidentStore, tmp_path: Path, small_chunks: int
) -> None:
    seen: list[int] = []
    path = _file(tmp_path, [_row(n) for n in range(30)])
    result = import_incidents(store, path, "op", progress=lambda r: seen.append(r.rows))
    assert result.written == store.count() == 30 and result.valid == 30
    assert seen == [7, 14, 21, 28, 30]  # told after each chunk
    events = store.db.execute("SELECT count(*) FROM incident_events WHERE kind = 'created'")
    assert events == [(30,)]
    row = store.get(30)
    assert row is not None and row["external_id"] == "112-00029" and row["kecamatan"]


def test_a_problem_in_a_later_chunk_writes_nothing_unless_partial(
    store: IncidentStore, tmp_path: Path, small_chunks: int
) -> None:
    rows = [_row(n) for n in range(20)]
    rows[17] = _row(17, category="ufo")
    rows[19] = _row(19, external="112-00002")  # a duplicate of row 3, two chunks later
    path = _file(tmp_path, rows)
    result = import_incidents(store, path, "op")
    assert result.written == 0 and store.count() == 0
    assert [(r.row, r.field) for r in result.rejects] == [(18, "category"), (20, "external_id")]
    assert "duplicate of row 3" in result.rejects[1].reason
    partial = import_incidents(store, path, "op", allow_partial=True)
    assert partial.written == store.count() == 18
    again = import_incidents(store, path, "op", allow_partial=True)  # stored ids, per chunk
    assert again.written == 0 and again.problems == 20
    assert {r.field for r in again.rejects} == {"external_id", "category"}


def test_a_file_that_breaks_off_further_in_writes_nothing(
    store: IncidentStore, tmp_path: Path, small_chunks: int
) -> None:
    path = tmp_path / "broken.csv"
    good = (HEADER + "".join(_row(n) for n in range(25))).encode("utf-16")
    path.write_bytes(good + b"\x00\xd8")  # a lone surrogate: not UTF-16 past row 25
    result = import_incidents(store, path, "op", allow_partial=True)
    assert result.written == 0 and store.count() == 0
    assert [(r.row, r.field) for r in result.rejects] == [(0, "file")]


def test_leaving_an_import_rolls_it_back(
    store: IncidentStore, tmp_path: Path, small_chunks: int
) -> None:
    def leave(so_far: files.ImportResult) -> None:
        if so_far.rows >= 14:
            raise KeyboardInterrupt  # as a closed page stops the script thread

    path = _file(tmp_path, [_row(n) for n in range(30)])
    with pytest.raises(KeyboardInterrupt):
        import_incidents(store, path, "op", progress=leave)
    assert store.count() == 0
    assert import_incidents(store, path, "op").written == 30  # nothing was left half-done


def test_problems_past_the_listed_ones_are_counted(
    store: IncidentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "LISTED_MAX", 5)
    path = _file(tmp_path, [_row(n, category="ufo") for n in range(12)])
    checked = read_incidents(path, store.settings, store, keep_items=False)
    assert checked.problems == 12 and len(checked.rejects) == 5 and checked.items == []
    assert any("7 more problems not listed" in str(n) for n in checked.notes)
    assert checked.unknown_words == {"ufo": 12}


def test_first_rows_remember_a_million_ids_compactly() -> None:
    seen = FirstRows(fold_at=1000)
    for n in range(5000):
        assert seen.first(f"id-{n}") is None
        seen.add(f"id-{n}", n + 1)
    assert [seen.first(f"id-{n}") for n in (0, 999, 1000, 4999)] == [1, 1000, 1001, 5000]
    assert seen.first("id-5000") is None


def test_imports_take_turns_in_arrival_order() -> None:
    turns = ImportTurns()
    order: list[str] = []
    told: list[int] = []
    first_in = threading.Event()

    def run(name: str, hold_s: float) -> None:
        with turns.turn(told.append, poll_s=0.02):
            order.append(f"{name} in")
            first_in.set()
            time.sleep(hold_s)
            order.append(f"{name} out")

    one = threading.Thread(target=run, args=("one", 0.3))
    one.start()
    first_in.wait(5)
    two = threading.Thread(target=run, args=("two", 0.0))
    two.start()
    one.join(5)
    two.join(5)
    assert order == ["one in", "one out", "two in", "two out"]
    assert told and set(told) == {1}  # one import ahead of it
    assert turns.ahead() == 0


def test_a_waiting_import_that_leaves_gives_up_its_place() -> None:
    turns = ImportTurns()

    def impatient(ahead: int) -> None:
        raise TimeoutError

    with turns.turn():
        with pytest.raises(TimeoutError), turns.turn(impatient, poll_s=0.01):
            pass
        assert turns.ahead() == 1
    with turns.turn():  # nothing left waiting in the queue
        assert turns.ahead() == 1


def test_staging_left_by_a_killed_import_is_swept(store: IncidentStore, tmp_path: Path) -> None:
    import os

    state = store.settings.paths.state
    old, fresh = state / ".import-old", state / ".import-fresh"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "000000.parquet").write_bytes(b"x")
    os.utime(old, (time.time() - 2 * 86_400,) * 2)
    import_incidents(store, _file(tmp_path, [_row(1)]), "op")
    assert not old.exists() and fresh.exists()  # another import may still be using it
    assert [p.name for p in state.glob(".import-*")] == [".import-fresh"]  # ours is gone
