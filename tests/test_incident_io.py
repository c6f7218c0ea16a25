"""Incident import over a folder of files (good and bad), all-or-nothing, and export formats."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from lawangjabo.config import Settings
from lawangjabo.i18n import Translator, as_message
from lawangjabo.incidents.analytics import Filters
from lawangjabo.incidents.files import (
    ImportChoices,
    export_incidents,
    import_incidents,
    parse_time,
    read_incidents,
    rejects_csv,
)
from lawangjabo.incidents.scope import CameraScope, NearestCamera
from lawangjabo.incidents.store import IncidentError, IncidentStore

from .conftest import DATA

FILES = DATA / "incidents"
EXPECTED = json.loads((FILES / "expected.json").read_text(encoding="utf-8"))
WIB = "Asia/Jakarta"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("27/11/2026 14.05", "2026-11-27T14:05:00+07:00"),
        ("27-11-2026 07:45:10", "2026-11-27T07:45:10+07:00"),
        ("27 Agustus 2026 08.15", "2026-08-27T08:15:00+07:00"),
        ("3 Des 2026", "2026-12-03T00:00:00+07:00"),
        ("2026-11-27T15:30:00+07:00", "2026-11-27T15:30:00+07:00"),
        ("2026-11-27 08:00", "2026-11-27T08:00:00+07:00"),
        ("2026-11-27T01:00:00Z", "2026-11-27T01:00:00+00:00"),
    ],
)
def test_indonesian_and_iso_times(text: str, expected: str) -> None:
    assert parse_time(text, WIB).isoformat() == expected


@pytest.mark.parametrize("text", ["31/02/2026 10.00", "yesterday", "27 Brumaire 2026", ""])
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text, WIB)


def test_every_file_has_an_expectation() -> None:
    assert {p.name for p in FILES.iterdir() if p.name != "expected.json"} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_reports_every_reject(
    name: str, store: IncidentStore, settings: Settings
) -> None:
    result = read_incidents(FILES / name, settings, store)
    expected = EXPECTED[name]
    assert len(result.items) == expected["items"]
    got = [(r.row, r.field) for r in result.rejects]
    assert got == [(row, field) for row, field, _ in expected["rejects"]]
    for reject, (_, _, reason) in zip(result.rejects, expected["rejects"], strict=True):
        assert reason in reject.reason, reject


def test_a_file_with_rejects_writes_nothing(store: IncidentStore) -> None:
    result = import_incidents(store, FILES / "bad_rows.csv", "op")
    assert result.written == 0 and store.count() == 0
    report = rejects_csv(result.rejects)
    assert report.splitlines()[0] == "row,field,reason" and len(report.splitlines()) == 9
    partial = import_incidents(store, FILES / "bad_rows.csv", "op", allow_partial=True)
    assert partial.written == 1 and store.count() == 1


def test_reimport_is_refused_as_duplicate(store: IncidentStore) -> None:
    assert import_incidents(store, FILES / "good.csv", "op").written == 4
    again = import_incidents(store, FILES / "good.csv", "op")
    assert again.written == 0 and {r.field for r in again.rejects} == {"external_id"}
    assert store.count() == 4
    row = store.get(1)
    assert row is not None and row["source"] == "import" and row["external_id"] == "112-0001"


def test_export_round_trips(store: IncidentStore, tmp_path: Path) -> None:
    import_incidents(store, FILES / "good.csv", "op")
    everything = Filters(datetime(2026, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1))
    frame = pd.read_csv(io.BytesIO(export_incidents(store, everything, "csv")))
    assert len(frame) == 4 and set(frame.category) >= {"kebakaran", "kemacetan"}
    parquet = pd.read_parquet(io.BytesIO(export_incidents(store, everything, "parquet")))
    assert len(parquet) == 4
    geojson = json.loads(export_incidents(store, everything, "geojson"))
    assert len(geojson["features"]) == 4
    path = tmp_path / "back.geojson"
    path.write_text(json.dumps(geojson), encoding="utf-8")
    back = read_incidents(path, store.settings, store=None, source="citizen")
    assert len(back.items) == 4 and back.rejects == []
    only_fires = Filters(everything.start, everything.end, categories=("kebakaran",))
    assert len(pd.read_csv(io.BytesIO(export_incidents(store, only_fires, "csv")))) == 1
    # An account that may see one camera: the others are neither named nor measured in its
    # export; every incident's nearest camera is that one, at its own distance.
    named = set(frame.nearest_camera.dropna())
    assert len(named) >= 2
    keep = sorted(named)[0]
    camera = next(c for c in store.enricher.cameras if c.id == keep)
    scope = CameraScope.of([camera], store.settings.city.metric_crs, limited=True)
    scoped = pd.read_csv(io.BytesIO(export_incidents(store, everything, "csv", scope)))
    assert set(scoped.nearest_camera) == {keep} and len(scoped) == 4
    own = NearestCamera([camera], store.settings.city.metric_crs).query(scoped.lon, scoped.lat)[1]
    assert scoped.camera_distance_m.tolist() == own.tolist()
    changed = frame.nearest_camera != keep
    assert (scoped.camera_distance_m[changed] > frame.camera_distance_m[changed]).all()
    scoped_geo = json.loads(export_incidents(store, everything, "geojson", scope))
    assert {f["properties"]["nearest_camera"] for f in scoped_geo["features"]} == {keep}
    parquet = pd.read_parquet(io.BytesIO(export_incidents(store, everything, "parquet", scope)))
    assert set(parquet.nearest_camera) == {keep}


def test_the_inbox_imports_jobs_once_and_sets_aside_what_it_cannot_take(
    store: IncidentStore, tmp_path: Path
) -> None:
    from lawangjabo.incidents.inbox import IncidentInbox, submit
    from lawangjabo.storage.spool import quarantined

    folder = tmp_path / "inbox"
    audits: list[tuple[str, str, dict[str, object]]] = []
    good = submit(folder, DATA / "incidents" / "good.csv", "cli:ops", "import", False)
    (folder / "zz-broken.job.json").write_text("[not a job", encoding="utf-8")
    inbox = IncidentInbox(folder)
    outcomes = inbox.take(store, lambda *entry: audits.append(entry))
    assert [o["written"] for o in outcomes] == [4] and store.count() == 4
    assert audits[0][:2] == ("cli:ops", "incidents_imported")
    result = json.loads((folder / "done" / f"{good}.json").read_text())
    assert result["file"] == "good.csv" and result["rejects"] == []
    held = quarantined(folder)
    assert [h.name for h in held] == ["zz-broken.job.json"]
    assert "unreadable incident import job" in held[0].reason
    assert inbox.take(store, lambda *entry: None) == [] and store.count() == 4  # once

    # A database that refuses: kept for the next pass, set aside after three refusals.
    refused = submit(folder, DATA / "incidents" / "good.csv", "cli:ops", "call_112", False)
    store.db.close()
    for _ in range(3):
        assert inbox.take(store, lambda *entry: None) == []
    outcome = json.loads((folder / "done" / f"{refused}.json").read_text())
    assert "refused it 3 times" in outcome["error"]
    assert len(quarantined(folder)) == 3  # the broken job, and the refused one with its file


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("call_112_excel.csv", ["CSV, UTF-8, separated by semicolon", "1 blank row(s) skipped",
                                "no_laporan → external_id",
                                "sumber → source",
                                "source column is kept at the end of the description"]),
        ("damkar_cp1252.tsv.csv", ["CSV, Windows-1252 (not UTF-8), separated by tab",
                                   "tanggal → date", "jam → clock"]),
        ("bpbd_utf16.csv", ["CSV, UTF-16, separated by comma", "latitude → lat"]),
        ("call_112.xlsx", ["Excel workbook, sheet 'Laporan 112'", "1 blank row(s) skipped"]),
    ],
)  # fmt: skip
def test_files_as_agencies_send_them_are_read_and_what_was_found_is_said(
    name: str, said: list[str], settings: Settings
) -> None:
    result = read_incidents(FILES / name, settings)
    notes = " | ".join(result.notes)
    for part in said:
        assert part in notes, notes


def test_112_words_decimal_commas_and_split_date_time_become_incidents(
    settings: Settings,
) -> None:
    excel = read_incidents(FILES / "call_112_excel.csv", settings).items
    assert [i.category for i in excel] == ["kebakaran", "kecelakaan_lalu_lintas", "kemacetan"]
    assert excel[0].lat == pytest.approx(-2.98883) and excel[0].lon == pytest.approx(104.76372)
    assert excel[0].external_id == "112-2026-0001"
    assert excel[0].description == "rumah terbakar di lorong [source: telepon]"
    assert excel[1].priority == "P2"
    (damkar,) = read_incidents(FILES / "damkar_cp1252.tsv.csv", settings).items
    assert damkar.description == "café terbakar"
    assert damkar.occurred_at.isoformat() == "2026-11-29T10:15:00+07:00"
    (bpbd,) = read_incidents(FILES / "bpbd_utf16.csv", settings).items
    assert bpbd.category == "banjir_genangan"  # its English name
    first, _ = read_incidents(FILES / "call_112.xlsx", settings).items
    assert first.occurred_at.isoformat() == "2026-11-30T09:30:00+07:00"  # date cell + "09.30"
    assert first.lat == pytest.approx(-2.98883) and first.category == "kebakaran"


def test_a_preview_choice_reads_another_systems_columns_and_words(
    store: IncidentStore, settings: Settings
) -> None:
    """A file from a system we have not seen: the preview lists its columns (none known) and
    its category words; the person's choices make every row valid, and the words they chose to
    remember are understood in the next file without being asked again."""
    path = FILES / "pusdalops_export.csv"
    first = read_incidents(path, settings, store)
    known = {"Prioritas": "priority", "Uraian": "description"}  # the city file's words
    assert first.columns == {c: known.get(c, "") for c in first.columns}
    assert first.unknown_words == {}  # no category column yet: nothing to map
    columns = {"Kode Tiket": "external_id", "Tgl Kejadian": "occurred_at",
               "Jenis Laporan": "category", "Koordinat Y": "lat", "Koordinat X": "lon",
               "Uraian": "description"}  # fmt: skip
    spelled = read_incidents(FILES / "laporan_pusdalops.csv", settings, store)
    assert spelled.unknown_words == {"kebakaran ruko": 2}  # one question for both spellings
    mapped = read_incidents(path, settings, store, choices=ImportChoices(columns))
    assert mapped.unknown_words == {"kebakaran ruko": 1, "laka tunggal": 1}  # genangan: known
    assert [(r.row, r.field) for r in mapped.rejects] == [(1, "category"), (2, "category")]
    words = {"kebakaran ruko": "kebakaran", "laka tunggal": "kecelakaan_lalu_lintas"}
    chosen = ImportChoices(columns, words)
    result = import_incidents(store, path, "op", choices=chosen)
    assert result.written == 3 and not result.rejects and result.valid == 3
    stored = store.db.execute("SELECT category, external_id FROM incidents ORDER BY id")
    assert stored == [
        ("kebakaran", "PSD-0419"),
        ("kecelakaan_lalu_lintas", "PSD-0420"),
        ("banjir_genangan", "PSD-0421"),
    ]
    store.remember_category_words({"Kebakaran Ruko": "kebakaran"}, "op")
    later = read_incidents(path, settings, store, source="citizen", choices=ImportChoices(columns))
    assert later.unknown_words == {"laka tunggal": 1}  # remembered, whatever its case
    with pytest.raises(IncidentError):
        store.remember_category_words({"ufo": "alien_landing"}, "op")


def test_reasons_and_notes_read_in_indonesian(settings: Settings) -> None:
    """What the preview shows is in the reader's language, the report too."""
    indonesian = Translator("id").gettext
    result = read_incidents(FILES / "bad_rows.csv", settings)
    reasons = [as_message(r.reason).text(indonesian) for r in result.rejects]
    assert "kategori tidak dikenal 'ufo'" in reasons
    assert "lintang/bujur tertukar" in reasons
    assert all(as_message(r.reason).text() == r.reason for r in result.rejects)
    notes = [as_message(n).text(indonesian) for n in read_incidents(
        FILES / "call_112_excel.csv", settings).notes]  # fmt: skip
    assert notes[0] == "CSV, UTF-8, dipisah titik koma" and "1 baris kosong dilewati" in notes
    assert "kategori tidak dikenal 'ufo'" in rejects_csv(result.rejects, indonesian)
    assert "unknown category 'ufo'" in rejects_csv(result.rejects)


def test_the_feed_refuses_a_source_for_an_agency_the_city_does_not_know(
    store: IncidentStore,
) -> None:
    """A token whose agency left the city file stores nothing (the route answers 409)."""
    from lawangjabo.incidents import feed

    item = {"external_id": "X-1", "occurred_at": "2026-11-30T10:00:00+07:00",
            "category": "macet", "priority": "P3", "lat": -2.9786, "lon": 104.7457}  # fmt: skip
    with pytest.raises(IncidentError, match="feed:<agency>"):
        feed.create(store, "gone", "token:x", [item])
    (made,) = feed.create(store, "dishub", "token:atcs", [item])
    assert made.outcome == "created" and store.get(made.id or 0)["source"] == "feed:dishub"  # type: ignore[index]
    assert store.count() == 1
