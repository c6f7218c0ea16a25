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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from lawangjabo.config import Settings
from lawangjabo.incidents.analytics import Filters
from lawangjabo.incidents.store import (
    COLUMNS,
    PRIORITIES,
    STATUSES,
    IncidentError,
    IncidentStore,
    NewIncident,
)

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
    text = str(value).strip()
    if not text:
        raise ValueError("empty")
    for pattern in (_NUMERIC, _WORDS):
        match = pattern.match(text)
        if match:
            day, month_text, year, hour, minute, second = match.groups()
            month = int(month_text) if month_text.isdigit() else MONTHS.get(month_text.lower())
            if month is None:
                raise ValueError(f"unknown month {month_text!r}")
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
                raise ValueError(f"not a real date/time: {text!r} ({exc})") from exc
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"unreadable time {text!r}: use ISO 8601 or 27/11/2026 14.05") from exc
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=ZoneInfo(tz))


@dataclass(frozen=True)
class RowReject:
    row: int  # data row number (1 = first row after the header; feature index + 1 in GeoJSON)
    field: str
    reason: str


@dataclass
class ImportResult:
    items: list[NewIncident]
    rejects: list[RowReject]
    written: int = 0


def _records(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))
    if suffix in (".geojson", ".json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        records = []
        for feature in data.get("features", []):
            props = dict(feature.get("properties") or {})
            geometry = feature.get("geometry") or {}
            coords = geometry.get("coordinates") if geometry.get("type") == "Point" else None
            props["lon"], props["lat"] = (coords[0], coords[1]) if coords else (None, None)
            records.append(props)
        return records
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
        return [dict(r) for r in frame.to_dict(orient="records")]
    raise ValueError(f"unsupported file type {suffix!r}: use .csv, .geojson or .parquet")


def _number(record: dict[str, Any], key: str) -> float:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("missing")
    try:
        number = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except ValueError as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if math.isnan(number):
        raise ValueError("missing")
    return number


def read_incidents(
    path: Path, settings: Settings, store: IncidentStore | None = None, source: str = "import"
) -> ImportResult:
    """Validate every row of an incident file; nothing is written."""
    tz = settings.city.timezone
    try:
        records = _records(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return ImportResult([], [RowReject(0, "file", str(exc))])
    items: list[NewIncident] = []
    rejects: list[RowReject] = []
    seen: dict[str, int] = {}
    existing: set[str] = set()
    if store is not None:
        existing = store.external_ids(source)
    bbox = settings.city.bbox
    for row, record in enumerate(records, start=1):
        problems: list[RowReject] = []
        try:
            occurred = parse_time(record.get("occurred_at"), tz)
        except ValueError as exc:
            problems.append(RowReject(row, "occurred_at", str(exc)))
            occurred = None
        reported = None
        if record.get("reported_at") not in (None, ""):
            try:
                reported = parse_time(record.get("reported_at"), tz)
            except ValueError as exc:
                problems.append(RowReject(row, "reported_at", str(exc)))
        category = str(record.get("category") or "").strip()
        if settings.category(category) is None:
            problems.append(RowReject(row, "category", f"unknown category {category!r}"))
        priority = str(record.get("priority") or "").strip().upper()
        if priority not in PRIORITIES:
            problems.append(RowReject(row, "priority", f"must be P1, P2 or P3, got {priority!r}"))
        status = str(record.get("status") or "new").strip()
        if status not in STATUSES:
            problems.append(RowReject(row, "status", f"unknown status {status!r}"))
        lat = lon = None
        try:
            lat, lon = _number(record, "lat"), _number(record, "lon")
        except ValueError as exc:
            problems.append(RowReject(row, "lat/lon", str(exc)))
        if lat is not None and lon is not None and not bbox.contains(lon, lat):
            reason = (
                "lat/lon swapped"
                if bbox.contains(lat, lon)
                else f"{lat}, {lon} is outside {settings.city.name}"
            )
            problems.append(RowReject(row, "lat/lon", reason))
        external = str(record.get("external_id") or "").strip() or None
        if external is not None:
            if external in seen:
                problems.append(
                    RowReject(row, "external_id", f"duplicate of row {seen[external]} in this file")
                )
            elif external in existing:
                problems.append(RowReject(row, "external_id", f"already imported from {source}"))
            seen.setdefault(external, row)
        if problems:
            rejects.extend(problems)
            continue
        assert occurred is not None and lat is not None and lon is not None
        items.append(
            NewIncident(
                occurred,
                category,
                priority,
                lat,
                lon,
                source=source,
                description=str(record.get("description") or ""),
                external_id=external,
                reported_at=reported,
                status=status,
            )
        )
    return ImportResult(items, rejects)


def import_incidents(
    store: IncidentStore,
    path: Path,
    actor: str,
    source: str = "import",
    allow_partial: bool = False,
) -> ImportResult:
    """Validate, then insert in one transaction — all rows, or none unless ``allow_partial``."""
    result = read_incidents(path, store.settings, store, source)
    if result.items and (allow_partial or not result.rejects):
        try:
            result.written = len(store.insert(result.items, actor))
        except IncidentError as exc:
            result.rejects.append(RowReject(0, "file", str(exc)))
    return result


def rejects_csv(rejects: list[RowReject]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "field", "reason"])
    for reject in rejects:
        writer.writerow([reject.row, reject.field, reject.reason])
    return out.getvalue()


def export_incidents(
    store: IncidentStore, filters: Filters, fmt: str, visible: set[str] | None = None
) -> bytes:
    """The filtered incidents as CSV, GeoJSON or Parquet. ``visible``: the camera ids the
    account may see; a nearest camera outside them is left empty (agency scope)."""
    names = ("id", *COLUMNS)
    rows = store.listing(filters, names, newest_first=False)
    frame = pd.DataFrame(rows, columns=list(names))
    if visible is not None:
        frame["nearest_camera"] = frame["nearest_camera"].where(
            frame["nearest_camera"].isin(visible), None
        )
    for column in ("h3_r7", "h3_r8", "h3_r9"):
        frame[column] = frame[column].map(lambda v: format(int(v), "x"))
    if fmt == "csv":
        text: str = frame.to_csv(index=False)
        return text.encode()
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
