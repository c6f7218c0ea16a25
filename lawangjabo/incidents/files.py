"""Incident import (CSV, GeoJSON, Parquet) with validation, and export of a filtered set.

An import is all-or-nothing per file by default: any rejected row means nothing is written, and
the rejects report (row, field, reason) says what to fix. Timestamps may be ISO 8601 or the forms
Indonesian spreadsheets use (``27/11/2026 14.05``, ``27-11-2026 14:05``, ``27 Nov 2026 14.05``,
``27 Agustus 2026``); a time without a zone is the city's local time.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import numpy as np
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


CHUNK_ROWS = 20_000  # rows read, checked and written at a time: memory stays bounded
LISTED_MAX = 20_000  # problems listed one by one; past that they are counted
WORDS_MAX = 200  # distinct unknown category words asked about


@dataclass
class ImportResult:
    items: list[NewIncident]  # kept only when asked (a preview or an import keeps none)
    rejects: list[RowReject]  # the first LISTED_MAX problems
    written: int = 0
    notes: list[str] = field(default_factory=list)  # what was found: format, encoding, columns
    columns: dict[str, str] = field(default_factory=dict)  # their column → ours ("" = not used)
    unknown_words: dict[str, int] = field(default_factory=dict)  # category word → rows using it
    valid: int = 0  # rows that passed every check
    problems: int = 0  # every problem found, listed or not
    rows: int = 0  # rows read so far

    def reject(self, found: list[RowReject]) -> None:
        """Count problems; list them while fewer than LISTED_MAX are listed."""
        self.problems += len(found)
        room = LISTED_MAX - len(self.rejects)
        if room > 0:
            self.rejects.extend(found[:room])

    @property
    def unlisted(self) -> int:
        return self.problems - len(self.rejects)


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


def _utf8(path: Path, block: int = 1 << 20) -> bool:
    """Whether the whole file is valid UTF-8, read in blocks (nothing of it is kept)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while data := handle.read(block):
                decoder.decode(data)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _open_text(path: Path) -> tuple[TextIO, Message]:
    """The file opened as text in the encoding found (said to the person importing)."""
    with path.open("rb") as handle:
        head = handle.read(3)
    if head.startswith(b"\xef\xbb\xbf"):
        encoding, said, errors = "utf-8-sig", Message("UTF-8 with BOM"), "strict"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding, said, errors = "utf-16", Message("UTF-16"), "strict"
    elif _utf8(path):
        encoding, said, errors = "utf-8", Message("UTF-8"), "strict"
    else:
        encoding, said, errors = "cp1252", Message("Windows-1252 (not UTF-8)"), "replace"
    return path.open(encoding=encoding, errors=errors, newline=""), said


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


def _workbook_rows(path: Path, notes: list[str]) -> Iterator[dict[str, Any]]:
    """The first sheet of an Excel workbook as records, one at a time: the first non-empty row
    is the header; cells keep their types (a date cell is a date); blank rows are skipped,
    numbered."""
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
        notes.append(Message("Excel workbook, sheet {sheet!r}", sheet=sheet.title))
        yield from _filled_rows((dict(zip(header, v, strict=False)) for v in rows), notes)
    finally:
        book.close()


SEPARATORS = {
    ",": N_("CSV, {encoding}, separated by commas"),
    ";": N_("CSV, {encoding}, separated by semicolons"),
    "\t": N_("CSV, {encoding}, separated by tabs"),
}


def _filled(row: dict[Any, Any]) -> bool:
    return any(str(v or "").strip() for k, v in row.items() if k != ROW)


def _csv_rows(path: Path, notes: list[str]) -> Iterator[dict[str, Any]]:
    """A CSV file's filled rows, read as they come (the file is never held whole)."""
    handle, encoding = _open_text(path)
    with handle:
        sample = handle.read(16_384)
        if not sample.strip() and len(sample) < 16_384:
            raise ValueError(Message("the file is empty"))
        delimiter = _delimiter(sample)
        notes.append(Message(SEPARATORS[delimiter], encoding=encoding))
        handle.seek(0)
        yield from _filled_rows(csv.DictReader(handle, delimiter=delimiter), notes)


def _filled_rows(records: Iterable[dict[Any, Any]], notes: list[str]) -> Iterator[dict[str, Any]]:
    """The records that hold something, each with its data row number in the file (ROW: blank
    rows counted, then skipped and said)."""
    blank = filled = 0
    for number, record in enumerate(records, start=1):
        if not _filled(record):
            blank += 1
            continue
        record[ROW] = number
        filled += 1
        yield record
    if blank:
        notes.append(_blank_note(blank))
    if not filled:
        raise ValueError(Message("the file has a header but no rows"))


def _geojson_rows(path: Path, notes: list[str]) -> Iterator[dict[str, Any]]:
    """A GeoJSON FeatureCollection's features as records (the document is parsed whole)."""
    handle, encoding = _open_text(path)
    with handle:
        text = handle.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            Message("not valid JSON (line {line}, column {column})", line=exc.lineno,
                    column=exc.colno)
        ) from exc  # fmt: skip
    del text
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        got = (
            Message("a list") if isinstance(data, list)
            else Message("an object without a list of features") if isinstance(data, dict)
            else Message("a single value")
        )  # fmt: skip
        raise ValueError(Message("a GeoJSON FeatureCollection was expected, got {got}", got=got))
    notes.append(Message("GeoJSON, {encoding}", encoding=encoding))
    features: list[Any] = data["features"]
    for number, item in enumerate(features, start=1):
        feature = item if isinstance(item, dict) else {}
        props = dict(feature.get("properties") or {})
        geometry = feature.get("geometry") or {}
        coords = geometry.get("coordinates") if geometry.get("type") == "Point" else None
        props["lon"], props["lat"] = (coords[0], coords[1]) if coords else (None, None)
        props[ROW] = number
        features[number - 1] = None  # let what was read go
        yield props


def _parquet_rows(path: Path, notes: list[str], batch: int) -> Iterator[dict[str, Any]]:
    """A Parquet file's rows, read in batches."""
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise ValueError(Message("not a readable Parquet file")) from exc
    notes.append(Message("Parquet"))
    number = 0
    for part in table.iter_batches(batch_size=batch):
        for record in part.to_pylist():
            number += 1
            record[ROW] = number
            yield record


def _records(path: Path, notes: list[str], batch: int = 20_000) -> Iterator[dict[str, Any]]:
    """The file's records under its own column names, each with its row number (ROW), one at
    a time; a problem with the whole file raises ValueError (possibly only once reached)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _csv_rows(path, notes)
    if suffix in (".geojson", ".json"):
        return _geojson_rows(path, notes)
    if suffix == ".parquet":
        return _parquet_rows(path, notes, batch)
    if suffix == ".xlsx":
        return _workbook_rows(path, notes)
    raise ValueError(
        Message("unsupported file type {suffix!r}: use .csv, .xlsx, .geojson or .parquet",
                suffix=suffix)
    )  # fmt: skip


def read_table(
    path: Path, settings: Settings, choices: ImportChoices | None = None
) -> tuple[Iterator[dict[str, Any]], list[str], dict[str, str]]:
    """The records of an incident file under our column names, read as they are asked for;
    notes on what was found (format, encoding, delimiter, columns renamed or not used; blank
    rows once all are read) and how each of the file's columns was read. Raises ValueError
    with a reason a person can act on (a fault further in: when it is reached)."""
    notes: list[str] = []
    records = _records(path, notes)
    first = next(records, None)
    if first is None:
        raise ValueError(Message("the file has no rows"))
    columns = column_mapping(
        [k for k in first if isinstance(k, str) and k != ROW],
        settings,
        choices.columns if choices else {},
    )
    mapping = _column_notes(columns, notes)
    renamed = (_renamed(r, mapping) for r in itertools.chain([first], records))
    return renamed, notes, columns


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


def _column_notes(columns: dict[str, str], notes: list[str]) -> dict[str, str]:
    """Say how the columns are read; the mapping of the used ones (theirs → ours)."""
    mapping = {k: v for k, v in columns.items() if v}
    renamed = sorted(f"{k} → {v}" for k, v in mapping.items() if k != v or v == "source")
    if renamed:
        notes.append(Message(COLUMN_NOTES[0], pairs=", ".join(renamed)))
    if any(v == "source" for v in mapping.values()):
        notes.append(Message("the file's source column is kept at the end of the description"))
    unused = [k for k, v in columns.items() if not v]
    if unused:
        notes.append(Message(COLUMN_NOTES[1], names=", ".join(unused)))
    return mapping


def _renamed(record: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """A record under our column names; a date column and a time column become occurred_at."""
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
    return mine


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


class FirstRows:
    """The row where each external id of a file first appeared, compactly: a million ids take
    ~16 MB instead of ~150 MB as a dict of strings. Ids are kept as their 64-bit hash in sorted
    numpy arrays (the newest in a small dict); two different ids sharing a hash — odds of about
    3 in 100 million for a million ids — would be reported as a duplicate."""

    def __init__(self, fold_at: int = 50_000) -> None:
        self._keys = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.int64)
        self._new: dict[int, int] = {}
        self._fold_at = fold_at

    def first(self, external: str) -> int | None:
        key = hash(external)
        if key in self._new:
            return self._new[key]
        at = int(np.searchsorted(self._keys, key))
        if at < len(self._keys) and self._keys[at] == key:
            return int(self._rows[at])
        return None

    def add(self, external: str, row: int) -> None:
        """Note ``external`` first seen at ``row`` (call only when :meth:`first` is None)."""
        self._new[hash(external)] = row
        if len(self._new) >= self._fold_at:
            keys = np.concatenate([self._keys, np.fromiter(self._new, dtype=np.int64)])
            rows = np.concatenate([self._rows, np.fromiter(self._new.values(), dtype=np.int64)])
            order = np.argsort(keys, kind="stable")
            self._keys, self._rows, self._new = keys[order], rows[order], {}


@dataclass
class RecordCheck:
    """What checking records needs, built once per file or request: the city's time zone and
    box, every way of naming a category, and the external ids already stored."""

    settings: Settings
    source: str
    categories: dict[str, str]
    existing: set[str]
    seen: FirstRows = field(default_factory=FirstRows)
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
            if folded in self.spelling or len(self.spelling) < WORDS_MAX:
                self.spelling[folded] = self.spelling.get(folded, written)
                word = self.spelling[folded]
                self.unknown[word] = self.unknown.get(word, 0) + 1
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
            first = self.seen.first(external)
            if first is not None:
                problem(
                    "external_id", Message("duplicate of row {first} in this file", first=first)
                )
            else:
                self.seen.add(external, row)
                if external in self.existing:
                    stored = Message("already imported from {source}", source=self.source)
                    problem("external_id", stored)
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


FILE_FAULTS = (OSError, ValueError, UnicodeDecodeError, csv.Error)


class _AllOrNothingError(Exception):
    """All or nothing: a row had a problem, so what was written is rolled back."""


def _chunks(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def _checked(
    records: Iterator[dict[str, Any]],
    checker: RecordCheck,
    result: ImportResult,
    stored: Callable[[list[str]], set[str]] | None,
) -> Iterator[list[NewIncident]]:
    """The valid incidents of each chunk of records; problems go to ``result``. ``stored``:
    which of a chunk's external ids are stored already (asked a chunk at a time)."""
    for chunk in _chunks(records, CHUNK_ROWS):
        if stored is not None:
            ids = {str(r.get("external_id") or "").strip() for r in chunk}
            checker.existing = stored(sorted(ids - {""}))
        good = []
        for record in chunk:
            item, problems = checker.check(record, int(record[ROW]))
            if item is not None:
                good.append(item)
            else:
                result.reject(problems)
        result.valid += len(good)
        result.rows += len(chunk)
        result.unknown_words = checker.unknown
        yield good


def _unlisted_note(result: ImportResult) -> None:
    if result.unlisted:
        result.notes.append(Message("{n} more problems not listed (the first {m} are)",
                                    n=result.unlisted, m=len(result.rejects)))  # fmt: skip


def read_incidents(
    path: Path,
    settings: Settings,
    store: IncidentStore | None = None,
    source: str = "import",
    choices: ImportChoices | None = None,
    keep_items: bool = True,
) -> ImportResult:
    """Check every row of an incident file a chunk at a time; nothing is written. Category
    words are read through the city file's synonyms, the words remembered in ``store`` and
    ``choices``. ``keep_items``: keep the valid incidents (a preview only counts them)."""
    result = ImportResult([], [])
    try:
        records, result.notes, result.columns = read_table(path, settings, choices)
        checker = _checker(settings, store, source, choices)
        stored = None if store is None else _stored_ids(store, source)
        for good in _checked(records, checker, result, stored):
            if keep_items:
                result.items.extend(good)
    except FILE_FAULTS as exc:
        return ImportResult([], [RowReject(0, "file", as_message(exc))], notes=result.notes,
                            problems=1, rows=result.rows)  # fmt: skip
    _unlisted_note(result)
    return result


def _checker(
    settings: Settings, store: IncidentStore | None, source: str, choices: ImportChoices | None
) -> RecordCheck:
    """The checks of a file's rows; stored external ids are asked a chunk at a time."""
    words = choices.words if choices else None
    return RecordCheck.build(settings, store, source, words, refuse_stored=False)


def _stored_ids(store: IncidentStore, source: str) -> Callable[[list[str]], set[str]]:
    return lambda ids: set(store.stored_external_ids(source, ids))


def import_incidents(
    store: IncidentStore,
    path: Path,
    actor: str,
    source: str = "import",
    allow_partial: bool = False,
    choices: ImportChoices | None = None,
    progress: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Read, check and write a chunk of rows at a time inside one transaction: all rows, or —
    unless ``allow_partial`` — none once any row has a problem (rolled back); a file that
    cannot be read to its end writes nothing. Memory holds one chunk, never the file.
    ``progress`` is told after each chunk; an exception it (or anything) raises rolls back."""
    result = ImportResult([], [])
    try:
        records, result.notes, result.columns = read_table(path, store.settings, choices)
    except FILE_FAULTS as exc:
        result.reject([RowReject(0, "file", as_message(exc))])
        return result
    checker = _checker(store.settings, store, source, choices)

    def batches() -> Iterator[list[NewIncident]]:
        for good in _checked(records, checker, result, _stored_ids(store, source)):
            if progress is not None:
                progress(result)
            if good and (allow_partial or not result.problems):
                yield good
        if result.problems and not allow_partial:
            raise _AllOrNothingError

    try:
        result.written = store.insert_batches(batches(), actor)
    except _AllOrNothingError:
        result.written = 0
    except IncidentError as exc:
        result.reject([RowReject(0, "file", as_message(exc))])
    except FILE_FAULTS as exc:  # the file broke off further in: nothing of it is kept
        result.reject([RowReject(0, "file", as_message(exc))])
        result.written = 0
    _unlisted_note(result)
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
