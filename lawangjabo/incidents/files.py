"""Incident import (CSV, GeoJSON, Parquet) with validation, and export of a filtered set.

An import is all-or-nothing per file by default: any rejected row means nothing is written, and
the rejects report (row, field, reason) says what to fix. Timestamps may be ISO 8601 or the forms
Indonesian spreadsheets use (``27/11/2026 14.05``, ``27-11-2026 14:05``, ``27 Nov 2026 14.05``,
``27 Agustus 2026``); a time without a zone is the city's local time.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from lawangjabo.config import Settings
from lawangjabo.geo.districts import normalise_name
from lawangjabo.i18n import N_, Message, as_message
from lawangjabo.incidents.analytics import Filters
from lawangjabo.incidents.scope import CameraScope
from lawangjabo.incidents.store import (
    COLUMNS,
    PRIORITIES,
    STATUSES,
    IncidentError,
    IncidentStore,
    NewIncident,
)
from lawangjabo.sheets import csv_text, frame_csv, xlsx_bytes

MONTHS = {
    "jan": 1,
    "januari": 1,
    "january": 1,
    "feb": 2,
    "februari": 2,
    "february": 2,
    "mar": 3,
    "maret": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "mei": 5,
    "may": 5,
    "jun": 6,
    "juni": 6,
    "june": 6,
    "jul": 7,
    "juli": 7,
    "july": 7,
    "agu": 8,
    "agt": 8,
    "agustus": 8,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "okt": 10,
    "oktober": 10,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "nopember": 11,
    "november": 11,
    "des": 12,
    "desember": 12,
    "dec": 12,
    "december": 12,
}
_NUMERIC = re.compile(
    r"^(\d{1,2})[/-](\d{1,2})[/-](\d{4})(?:[ T](\d{1,2})[.:](\d{2})(?:[.:](\d{2}))?)?$"
)
_WORDS = re.compile(r"^(\d{1,2}) ([A-Za-z]+) (\d{4})(?:,? (\d{1,2})[.:](\d{2})(?:[.:](\d{2}))?)?$")


def parse_time(value: Any, tz: str) -> datetime:
    """A timestamp from an import; raises ValueError with the reason."""
    if isinstance(value, datetime | pd.Timestamp):
        stamp: datetime = pd.Timestamp(value).to_pydatetime()
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=ZoneInfo(tz))
    text = "" if value is None else str(value).strip()
    if not text or text.lower() in ("nan", "nat"):
        raise ValueError(Message("missing"))
    for pattern in (_NUMERIC, _WORDS):
        match = pattern.match(text)
        if match:
            day, month_text, year, hour, minute, second = match.groups()
            month = int(month_text) if month_text.isdigit() else MONTHS.get(month_text.lower())
            if month is None:
                raise ValueError(Message("unknown month {month!r}", month=month_text))
            try:
                return datetime(
                    int(year),
                    month,
                    int(day),
                    int(hour or 0),
                    int(minute or 0),
                    int(second or 0),
                    tzinfo=ZoneInfo(tz),
                )
            except ValueError as exc:
                raise ValueError(Message("not a real date/time: {text!r}", text=text)) from exc
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            Message("unreadable time {text!r}: use ISO 8601 or 27/11/2026 14.05", text=text)
        ) from exc
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=ZoneInfo(tz))


@dataclass(frozen=True)
class RowReject:
    row: int  # data row number (1 = first row after the header; feature index + 1 in GeoJSON)
    field: str
    reason: str  # a Message where the core phrased it (pages show it in the reader's language)

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "reason": self.reason}


@dataclass
class ImportResult:
    items: list[NewIncident]
    rejects: list[RowReject]
    written: int = 0
    notes: list[str] = field(default_factory=list)  # what was found: format, encoding, columns
    columns: dict[str, str] = field(default_factory=dict)  # their column → ours ("" = not used)
    unknown_words: dict[str, int] = field(default_factory=dict)  # category word → rows using it


@dataclass(frozen=True)
class ImportChoices:
    """What the person importing decided in the preview: how to read each column of the file
    (their name → ours, "" = not used; unnamed columns are read as usual) and what their
    category words mean (word as written → category id)."""

    columns: dict[str, str] = field(default_factory=dict)
    words: dict[str, str] = field(default_factory=dict)


# The names files give our columns (Indonesian 112 and agency exports, English); a city file adds
# its own under [incidents] columns. Matched ignoring case, spaces and punctuation.
COLUMN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": ("no_laporan", "nomor_laporan", "nomor", "no_tiket", "id_laporan", "ticket",
                    "report_id", "id"),
    "occurred_at": ("waktu", "waktu_kejadian", "tanggal_waktu", "datetime", "time", "timestamp"),
    "date": ("tanggal", "tgl", "date"),
    "clock": ("jam", "pukul", "clock"),
    "reported_at": ("waktu_lapor", "dilaporkan", "reported"),
    "category": ("kategori", "jenis", "jenis_kejadian", "type"),
    "priority": ("prioritas", "urgensi", "prio"),
    "status": ("status_laporan",),
    "lat": ("lintang", "latitude", "y"),
    "lon": ("bujur", "longitude", "lng", "long", "x"),
    "description": ("keterangan", "uraian", "deskripsi", "catatan", "notes"),
    "source": ("sumber", "kanal", "channel"),
}  # fmt: skip
ROW = "\x00row"  # where a record keeps its data row number in the file (not a column name)
KNOWN_COLUMNS = ("occurred_at", "reported_at", "category", "priority", "status", "lat", "lon",
                 "external_id", "description")  # fmt: skip


def column_names(settings: Settings) -> dict[str, str]:
    """Every accepted column name (folded) → our column."""
    found: dict[str, str] = {}
    for ours in (*KNOWN_COLUMNS, *COLUMN_SYNONYMS):
        found.setdefault(normalise_name(ours), ours)
    extra = settings.incidents.columns
    for ours in {*COLUMN_SYNONYMS, *extra}:
        for theirs in (*extra.get(ours, ()), *COLUMN_SYNONYMS.get(ours, ())):
            found.setdefault(normalise_name(theirs), ours)
    return found


def category_names(settings: Settings) -> dict[str, str]:
    """Every accepted way of naming a category (folded) → its id: id, names, synonyms."""
    found: dict[str, str] = {}
    for category in settings.incident_categories:
        for name in (category.id, category.name, *category.names.values(), *category.synonyms):
            found.setdefault(normalise_name(name), category.id)
    return found


def _decode(raw: bytes) -> tuple[str, Message]:
    """The text of a file and the encoding found (said to the person importing)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8"), Message("UTF-8 with BOM")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), Message("UTF-16")
    try:
        return raw.decode("utf-8"), Message("UTF-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), Message("Windows-1252 (not UTF-8)")


def _delimiter(text: str) -> str:
    """``,``, ``;`` or tab: the one that splits the header most consistently."""
    sample = text[:16_384]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample.strip() else ""
        return max(",;\t", key=header.count)


def _blank_note(blank: int) -> Message:
    return Message("{n} blank row(s) skipped", n=blank)


def _workbook_rows(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    """The first sheet of an Excel workbook as records: the first non-empty row is the header;
    cells keep their types (a date cell is a date); blank rows are skipped, numbered."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a damaged or foreign file
        raise ValueError(
            Message("not a readable Excel workbook: {kind}", kind=type(exc).__name__)
        ) from exc
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header: list[str] = []
        for values in rows:
            if any(v not in (None, "") for v in values):
                header = [str(v).strip() if v is not None else "" for v in values]
                break
        if not header:
            raise ValueError(Message("the workbook's first sheet is empty"))
        records: list[dict[str, Any]] = []
        blank = 0
        for number, values in enumerate(rows, start=1):
            if not any(v not in (None, "") for v in values):
                blank += 1
                continue
            record: dict[str, Any] = dict(zip(header, values, strict=False))
            record[ROW] = number
            records.append(record)
        notes.append(Message("Excel workbook, sheet {sheet!r}", sheet=sheet.title))
        if blank:
            notes.append(_blank_note(blank))
        if not records:
            raise ValueError(Message("the file has a header but no rows"))
        return records
    finally:
        book.close()


SEPARATORS = {
    ",": N_("CSV, {encoding}, separated by commas"),
    ";": N_("CSV, {encoding}, separated by semicolons"),
    "\t": N_("CSV, {encoding}, separated by tabs"),
}


def _filled(row: dict[Any, Any]) -> bool:
    return any(str(v or "").strip() for k, v in row.items() if k != ROW)


def _records(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    """The file's records under its own column names, each with its row number (ROW)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        text, encoding = _decode(path.read_bytes())
        if not text.strip():
            raise ValueError(Message("the file is empty"))
        delimiter = _delimiter(text)
        notes.append(Message(SEPARATORS[delimiter], encoding=encoding))
        rows: list[dict[Any, Any]] = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
        for number, row in enumerate(rows, start=1):
            row[ROW] = number  # the file's own data row number, blank rows counted
        filled = [r for r in rows if _filled(r)]
        if len(filled) < len(rows):
            notes.append(_blank_note(len(rows) - len(filled)))
        if not filled:
            raise ValueError(Message("the file has a header but no rows"))
        return filled
    if suffix in (".geojson", ".json"):
        text, encoding = _decode(path.read_bytes())
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                Message("not valid JSON (line {line}, column {column})", line=exc.lineno,
                        column=exc.colno)
            ) from exc  # fmt: skip
        if not isinstance(data, dict) or not isinstance(data.get("features"), list):
            got = (
                Message("a list") if isinstance(data, list)
                else Message("an object without a list of features") if isinstance(data, dict)
                else Message("a single value")
            )  # fmt: skip
            raise ValueError(
                Message("a GeoJSON FeatureCollection was expected, got {got}", got=got)
            )
        records = []
        for number, item in enumerate(data["features"], start=1):
            feature = item if isinstance(item, dict) else {}
            props = dict(feature.get("properties") or {})
            geometry = feature.get("geometry") or {}
            coords = geometry.get("coordinates") if geometry.get("type") == "Point" else None
            props["lon"], props["lat"] = (coords[0], coords[1]) if coords else (None, None)
            props[ROW] = number
            records.append(props)
        notes.append(Message("GeoJSON, {encoding}", encoding=encoding))
        return records
    if suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
            raise ValueError(Message("not a readable Parquet file")) from exc
        notes.append(Message("Parquet"))
        return [dict(r) for r in frame.to_dict(orient="records")]
    if suffix == ".xlsx":
        return _workbook_rows(path, notes)
    raise ValueError(
        Message("unsupported file type {suffix!r}: use .csv, .xlsx, .geojson or .parquet",
                suffix=suffix)
    )  # fmt: skip


def read_table(
    path: Path, settings: Settings, choices: ImportChoices | None = None
) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    """The records of an incident file under our column names, notes on what was found
    (format, encoding, delimiter, columns renamed or not used) and how each of the file's
    columns was read. Raises ValueError with a reason a person can act on."""
    notes: list[str] = []
    records = _records(path, notes)
    if not records:
        raise ValueError(Message("the file has no rows"))
    columns = column_mapping(
        [k for k in records[0] if isinstance(k, str) and k != ROW],
        settings,
        choices.columns if choices else {},
    )
    return _renamed(records, columns, notes), notes, columns


def column_mapping(
    theirs: list[str], settings: Settings, chosen: dict[str, str] | None = None
) -> dict[str, str]:
    """How each of a file's columns is read: our column, or "" (not used). A person's choice
    (``chosen``) wins over the names we know."""
    names = column_names(settings)
    chosen = chosen or {}
    return {k: chosen[k] if k in chosen else names.get(normalise_name(k), "") for k in theirs}


COLUMN_NOTES = (N_("columns read as: {pairs}"), N_("columns not used: {names}"))
READABLE_COLUMNS = (*KNOWN_COLUMNS, "date", "clock", "source")  # what a column can be read as


def _renamed(
    records: list[dict[str, Any]], columns: dict[str, str], notes: list[str]
) -> list[dict[str, Any]]:
    """Records under our column names; a date column and a time column become occurred_at."""
    mapping = {k: v for k, v in columns.items() if v}
    renamed = sorted(f"{k} → {v}" for k, v in mapping.items() if k != v or v == "source")
    if renamed:
        notes.append(Message(COLUMN_NOTES[0], pairs=", ".join(renamed)))
    if any(v == "source" for v in mapping.values()):
        notes.append(Message("the file's source column is kept at the end of the description"))
    unused = [k for k, v in columns.items() if not v]
    if unused:
        notes.append(Message(COLUMN_NOTES[1], names=", ".join(unused)))
    out = []
    for record in records:
        mine = {mapping[k]: v for k, v in record.items() if k in mapping}
        if ROW in record:
            mine[ROW] = record[ROW]
        if "occurred_at" not in mine and mine.get("date") not in (None, ""):
            day = mine["date"]
            if isinstance(day, datetime):  # a workbook's date cell
                day = f"{day:%d/%m/%Y}" if mine.get("clock") else day
            mine["occurred_at"] = (
                f"{day} {mine.get('clock') or ''}".strip() if isinstance(day, str) else day
            )
        out.append(mine)
    return out


def _number(record: dict[str, Any], key: str) -> float:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(Message("missing"))
    try:
        number = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except ValueError as exc:
        raise ValueError(Message("not a number: {value!r}", value=value)) from exc
    if math.isnan(number):
        raise ValueError(Message("missing"))
    return number


def _description(record: dict[str, Any]) -> str:
    """The description, with the file's own source (its "sumber": a channel such as telephone
    or app) kept at its end: our source says which system the file came from."""
    text = str(record.get("description") or "").strip()
    channel = str(record.get("source") or "").strip()
    return f"{text} [source: {channel}]".strip() if channel else text


@dataclass
class RecordCheck:
    """What checking records needs, built once per file or request: the city's time zone and
    box, every way of naming a category, and the external ids already stored."""

    settings: Settings
    source: str
    categories: dict[str, str]
    existing: set[str]
    seen: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)  # unknown category word → rows
    spelling: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        settings: Settings,
        store: IncidentStore | None,
        source: str,
        words: dict[str, str] | None = None,
        refuse_stored: bool = True,
    ) -> RecordCheck:
        """``refuse_stored``: an external id already stored from ``source`` is a problem (a
        file imported twice); the feed answers such items itself ("exists")."""
        categories = category_names(settings)
        if store is not None:
            categories.update(store.category_words())
        for word, category in (words or {}).items():
            categories[normalise_name(word)] = category
        stored = store is not None and refuse_stored
        existing = store.external_ids(source) if stored and store is not None else set()
        return cls(settings, source, categories, existing)

    def check(self, record: dict[str, Any], row: int) -> tuple[NewIncident | None, list[RowReject]]:
        """One record under our column names → an incident, or every problem it has."""
        settings, tz = self.settings, self.settings.city.timezone
        problems: list[RowReject] = []

        def problem(name: str, reason: object) -> None:
            problems.append(RowReject(row, name, as_message(reason)))

        try:
            occurred = parse_time(record.get("occurred_at"), tz)
        except ValueError as exc:
            problem("occurred_at", exc)
            occurred = None
        reported = None
        if record.get("reported_at") not in (None, ""):
            try:
                reported = parse_time(record.get("reported_at"), tz)
            except ValueError as exc:
                problem("reported_at", exc)
        written = str(record.get("category") or "").strip()
        category = self.categories.get(normalise_name(written), written)
        if not written:
            problem("category", Message("missing"))
        elif settings.category(category) is None:
            problem("category", Message("unknown category {word!r}", word=written))
            folded = normalise_name(written)  # one question per word, whatever its case
            self.spelling[folded] = self.spelling.get(folded, written)
            self.unknown[self.spelling[folded]] = self.unknown.get(self.spelling[folded], 0) + 1
        priority = str(record.get("priority") or "").strip().upper()
        if priority not in PRIORITIES:
            problem("priority", Message("must be P1, P2 or P3, got {value!r}", value=priority))
        status = str(record.get("status") or "new").strip()
        if status not in STATUSES:
            problem("status", Message("unknown status {value!r}", value=status))
        lat = lon = None
        try:
            lat, lon = _number(record, "lat"), _number(record, "lon")
        except ValueError as exc:
            problem("lat/lon", exc)
        bbox = settings.city.bbox
        if lat is not None and lon is not None and not bbox.contains(lon, lat):
            problem(
                "lat/lon",
                Message("lat/lon swapped")
                if bbox.contains(lat, lon)
                else Message("{lat}, {lon} is outside {city}", lat=lat, lon=lon,
                             city=settings.city.name),
            )  # fmt: skip
        external = str(record.get("external_id") or "").strip() or None
        if external is not None:
            if external in self.seen:
                first = self.seen[external]
                problem(
                    "external_id", Message("duplicate of row {first} in this file", first=first)
                )
            elif external in self.existing:
                problem(
                    "external_id", Message("already imported from {source}", source=self.source)
                )
            self.seen.setdefault(external, row)
        if problems:
            return None, problems
        assert occurred is not None and lat is not None and lon is not None
        return NewIncident(
            occurred,
            category,
            priority,
            lat,
            lon,
            source=self.source,
            description=_description(record),
            external_id=external,
            reported_at=reported,
            status=status,
        ), []


def read_incidents(
    path: Path,
    settings: Settings,
    store: IncidentStore | None = None,
    source: str = "import",
    choices: ImportChoices | None = None,
) -> ImportResult:
    """Validate every row of an incident file; nothing is written. Category words are read
    through the city file's synonyms, the words remembered in ``store`` and ``choices``."""
    try:
        records, notes, columns = read_table(path, settings, choices)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return ImportResult([], [RowReject(0, "file", as_message(exc))])
    checker = RecordCheck.build(settings, store, source, choices.words if choices else None)
    items: list[NewIncident] = []
    rejects: list[RowReject] = []
    for index, record in enumerate(records, start=1):
        item, problems = checker.check(record, int(record.get(ROW, index)))
        rejects.extend(problems)
        if item is not None:
            items.append(item)
    return ImportResult(items, rejects, notes=notes, columns=columns, unknown_words=checker.unknown)


def import_incidents(
    store: IncidentStore,
    path: Path,
    actor: str,
    source: str = "import",
    allow_partial: bool = False,
    choices: ImportChoices | None = None,
) -> ImportResult:
    """Validate, then insert in one transaction — all rows, or none unless ``allow_partial``."""
    result = read_incidents(path, store.settings, store, source, choices)
    if result.items and (allow_partial or not result.rejects):
        try:
            result.written = len(store.insert(result.items, actor))
        except IncidentError as exc:
            result.rejects.append(RowReject(0, "file", as_message(exc)))
    return result


def rejects_csv(rejects: list[RowReject], gettext: Callable[[str], str] | None = None) -> str:
    """The rejects report; with ``gettext``, its reasons in that language. A reason quotes what
    the file said, so no cell of it is a live spreadsheet formula."""
    return csv_text(
        ["row", "field", "reason"],
        ([r.row, r.field, as_message(r.reason).text(gettext)] for r in rejects),
    )


EXPORT_FORMATS = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
    "parquet": "application/octet-stream",
}
TIME_COLUMNS = ("occurred_at", "reported_at", "updated_at")


def export_incidents(
    store: IncidentStore, filters: Filters, fmt: str, scope: CameraScope | None = None
) -> bytes:
    """The filtered incidents as CSV, Excel, GeoJSON or Parquet. ``scope``: what the account
    may know of cameras; a nearest camera it may not see is replaced by the nearest one it may
    see, and so is the distance. CSV and Excel cells never start a formula (a description is
    written as its sender gave it, with an apostrophe in front where it would)."""
    names = ("id", *COLUMNS)
    rows = store.listing(filters, names, newest_first=False)
    frame = pd.DataFrame(rows, columns=list(names))
    if scope is not None:
        frame = scope.frame(frame)
    for column in ("h3_r7", "h3_r8", "h3_r9"):
        frame[column] = frame[column].map(lambda v: format(int(v), "x"))
    if fmt == "csv":
        return frame_csv(frame).encode()
    if fmt == "xlsx":
        zone = store.settings.city.timezone
        for column in TIME_COLUMNS:  # Excel has no time zones: the city's clock, said so
            frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(zone)
        header = [f"{c} ({zone})" if c in TIME_COLUMNS else c for c in frame.columns]
        cells = frame.astype(object).where(frame.notna(), None)
        return xlsx_bytes(header, cells.itertuples(index=False, name=None), "incidents")
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    if fmt == "geojson":
        features = []
        for record in frame.to_dict(orient="records"):
            lon, lat = record.pop("lon"), record.pop("lat")
            props = {
                k: (
                    v.isoformat()
                    if isinstance(v, datetime | pd.Timestamp)
                    else (None if v is None or pd.isna(v) else v)
                )
                for k, v in record.items()
            }
            features.append(
                {
                    "type": "Feature",
                    "properties": props,
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                }
            )
        return json.dumps({"type": "FeatureCollection", "features": features}).encode()
    raise ValueError(f"unknown export format {fmt!r}")
