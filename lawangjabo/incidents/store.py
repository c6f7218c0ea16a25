"""Incidents: derived spatial columns at ingest, lifecycle with an append-only event log.

Embedded, one DuckDB file holds them. In cluster mode PostgreSQL is the system of record (every
write goes there) and each replica reads — analytics included — from its own DuckDB copy kept
current by :class:`~lawangjabo.incidents.mirror.IncidentMirror`.

Derived columns (kecamatan, H3 cells at resolutions 7–9, nearest camera and its distance, local
hour and weekday) are computed in Python when an incident enters (shapely, h3, pyproj) — no DuckDB
extension is downloaded at run time. All SQL goes through the :class:`Database` gateway.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import h3.api.basic_int as h3_int
import numpy as np
import shapely
from numpy.typing import NDArray

from lawangjabo.cameras.registry import Camera
from lawangjabo.config import Settings
from lawangjabo.geo.districts import DistrictLayer, normalise_name
from lawangjabo.incidents.analytics import Filters, category_codes
from lawangjabo.incidents.history import History
from lawangjabo.incidents.scope import NearestCamera
from lawangjabo.storage.db import Database, Gateway

if TYPE_CHECKING:
    from lawangjabo.incidents.mirror import IncidentMirror

log = logging.getLogger(__name__)

Priority = Literal["P1", "P2", "P3"]
PRIORITIES = ("P1", "P2", "P3")
SOURCES = ("operator", "call_112", "citizen", "sensor", "import")
FEED_PREFIX = "feed:"  # + agency id: the source of what an agency's system sends
STATUSES = ("new", "dispatched", "on_scene", "resolved", "closed", "false_alarm", "hoax")
OPEN_STATUSES = ("new", "dispatched", "on_scene")
# A second report of the same thing: same category, this close, this soon (the form warns).
DUPLICATE_RADIUS_M = 200.0
DUPLICATE_WINDOW = timedelta(minutes=10)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("dispatched", "on_scene", "resolved", "false_alarm", "hoax"),
    "dispatched": ("on_scene", "resolved", "false_alarm", "hoax"),
    "on_scene": ("resolved", "false_alarm"),
    "resolved": ("closed",),
    "false_alarm": ("closed",),
    "hoax": ("closed",),
    "closed": (),
}
H3_RESOLUTIONS = (7, 8, 9)
COLUMNS = (
    "occurred_at",
    "reported_at",
    "category",
    "priority",
    "status",
    "lat",
    "lon",
    "kecamatan",
    "h3_r7",
    "h3_r8",
    "h3_r9",
    "nearest_camera",
    "camera_distance_m",
    "local_hour",
    "local_dow",
    "lead_agency",
    "source",
    "external_id",
    "description",
    "created_by",
    "updated_at",
    "kelurahan",  # the finer level's place (named by the city file's [city.sublevel])
)


AT_STATUS, AT_LEAD, AT_UPDATED = (COLUMNS.index(c) for c in ("status", "lead_agency", "updated_at"))

_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT


def h3_parent(cells: NDArray[np.uint64], res: int) -> NDArray[np.uint64]:
    """Parents of H3 cells at ``res`` by bit arithmetic (vectorised ``cell_to_parent``):
    set the resolution field and mark the finer digits unused (7)."""
    out = (cells & ~_RES_MASK) | (np.uint64(res) << _RES_SHIFT)
    for digit in range(res + 1, 16):
        out |= np.uint64(7) << np.uint64((15 - digit) * 3)
    return out


def _agency_scope(agencies: tuple[str, ...]) -> tuple[str, list[Any]]:
    if not agencies:
        return "", []
    return f" AND lead_agency IN ({', '.join('?' * len(agencies))})", list(agencies)


BULK_FROM = 50  # more incidents than this at once go in as one columnar insert
CODES_LOCK = 7320  # PostgreSQL: one replica at a time assigns category codes
SEED_LOCK = 7321  # PostgreSQL: one replica seeds the demo history
UNIQUE_VIOLATION = "23505"


def assign_category_codes(db: Gateway, categories: set[str]) -> dict[str, int]:
    """The small-integer code of each category (analytics filters on it), assigning the next
    free code to a category never stored before. Run inside the inserting transaction."""
    if db.dialect == "postgresql" and categories:
        db.execute("SELECT pg_advisory_xact_lock(?)", [CODES_LOCK])
    known = dict(category_codes(db))
    for category in sorted(categories - known.keys()):
        code = max(known.values(), default=0) + 1
        db.execute("INSERT INTO incident_category_codes VALUES (?, ?)", [category, code])
        known[category] = code
    return known


def _append(db: Gateway, frame: Any, codes: dict[str, int], happened: str) -> tuple[int, str]:
    """Insert a frame of incidents (COLUMNS) in one columnar insert and one 'created' event
    each, dated by column ``happened``. Returns the highest id before them and the condition
    that picks this transaction's rows in PostgreSQL (another replica's incident may take an
    id in between; only ours get events)."""
    frame["category_code"] = frame["category"].map(codes).astype("uint16")
    first = int(db.execute("SELECT coalesce(max(id), 0) FROM incidents")[0][0])
    db.insert_frame("incidents", (*COLUMNS, "category_code"), frame)
    return first, _created_events(db, first, happened)


def _created_events(db: Gateway, first: int, happened: str) -> str:
    """One 'created' event for each incident this transaction inserted after id ``first``,
    dated by column ``happened``; returns the condition that picks this transaction's rows."""
    mine = " AND changed_by_tx = pg_current_xact_id()" if db.dialect == "postgresql" else ""
    db.execute(
        "INSERT INTO incident_events (incident_id, happened_at, kind, to_status, agency, actor) "
        f"SELECT id, {happened}, 'created', status, lead_agency, created_by FROM incidents "
        f"WHERE id > ?{mine}",
        [first],
    )
    return mine


STAGING_KEPT_S = 86_400  # a staging folder this old was left by a killed import


def _sweep_staging(state: Path) -> None:
    """Remove staging folders that a killed import left behind (their data was never
    committed: the transaction died with the process)."""
    for folder in state.glob(".import-*"):
        with contextlib.suppress(OSError):
            if time.time() - folder.stat().st_mtime > STAGING_KEPT_S:
                shutil.rmtree(folder, ignore_errors=True)


def _incident_frame(rows: list[list[Any]], codes: dict[str, int]) -> Any:
    """Rows from :meth:`IncidentStore.rows` as a DataFrame ready to insert (times in UTC,
    the category's code)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("occurred_at", "reported_at", "updated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["category_code"] = frame["category"].map(codes).astype("uint16")
    return frame


class IncidentError(ValueError):
    """A request the incident rules refuse (unknown category, illegal transition, …)."""


@dataclass(frozen=True)
class NewIncident:
    occurred_at: datetime
    category: str
    priority: str
    lat: float
    lon: float
    source: str = "operator"
    description: str = ""
    external_id: str | None = None
    reported_at: datetime | None = None
    status: str = "new"


def place_names(
    tree: shapely.STRtree, layer: DistrictLayer | None, lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> NDArray[np.object_]:  # fmt: skip
    """The name of the polygon of ``layer`` holding each point; None outside all of them."""
    names = np.full(len(lon), None, dtype=object)
    if len(lon) and layer is not None and layer.districts:
        where, which = tree.query(shapely.points(lon, lat), predicate="intersects")
        known = np.array([d.name for d in layer.districts], dtype=object)
        names[where[::-1]] = known[which[::-1]]  # on a shared edge: the first
    return names


@dataclass
class Enricher:
    """Computes the derived columns for many points at once."""

    settings: Settings
    districts: DistrictLayer
    cameras: list[Camera]
    sublevel: DistrictLayer | None = None  # the finer level, when its boundaries are installed
    _nearest: NearestCamera = field(init=False)
    _district_tree: shapely.STRtree = field(init=False)
    _sublevel_tree: shapely.STRtree = field(init=False)

    def __post_init__(self) -> None:
        self._nearest = NearestCamera(self.cameras, self.settings.city.metric_crs)
        self._district_tree = shapely.STRtree([d.geometry for d in self.districts.districts])
        self._sublevel_tree = shapely.STRtree(
            [d.geometry for d in self.sublevel.districts] if self.sublevel else []
        )

    def places(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.object_]:
        """The finer level's place of each point (None outside every one, or not installed)."""
        return place_names(self._sublevel_tree, self.sublevel, lon, lat)

    def metric(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return self._nearest.metric(lon, lat)

    def derive(
        self,
        lon: Sequence[float] | NDArray[np.float64],
        lat: Sequence[float] | NDArray[np.float64],
        occurred: Sequence[datetime] | NDArray[np.int64],
    ) -> dict[str, Any]:
        """Derived columns for points (lon, lat) at times (datetimes or epoch seconds)."""
        import pandas as pd

        lon_a = np.asarray(lon, dtype=float)
        lat_a = np.asarray(lat, dtype=float)
        n = len(lon_a)
        kecamatan = place_names(self._district_tree, self.districts, lon_a, lat_a)
        kelurahan = place_names(self._sublevel_tree, self.sublevel, lon_a, lat_a)
        fine = np.fromiter(
            (
                h3_int.latlng_to_cell(la, lo, H3_RESOLUTIONS[-1])
                for la, lo in zip(lat_a.tolist(), lon_a.tolist(), strict=True)
            ),
            dtype=np.uint64,
            count=n,
        )
        cells = {res: h3_parent(fine, res) for res in H3_RESOLUTIONS}
        nearest, distance = self._nearest.query(lon_a, lat_a)
        if isinstance(occurred, np.ndarray):
            stamps = pd.to_datetime(occurred, unit="s", utc=True)
        else:
            stamps = pd.to_datetime(list(occurred), utc=True)
        local = pd.DatetimeIndex(stamps).tz_convert(self.settings.city.timezone)
        return {
            "kecamatan": kecamatan,
            "kelurahan": kelurahan,
            "h3_r7": cells[7],
            "h3_r8": cells[8],
            "h3_r9": cells[9],
            "nearest_camera": nearest,
            "camera_distance_m": distance,
            "local_hour": np.asarray(local.hour, dtype=np.int8),
            "local_dow": np.asarray(local.day_of_week, dtype=np.int8),
        }


class IncidentStore:
    """Creates, changes and reads incidents; every change also writes an event.

    ``db`` is where incidents are read (analytics too); ``writer`` where they are written, the
    same database unless a ``mirror`` copies the writer's incidents into ``db`` (cluster mode:
    PostgreSQL → this replica's DuckDB). After a write the mirror pulls at once, so whoever
    wrote reads it back; other replicas see it at their next pull."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        enricher: Enricher,
        writer: Gateway | None = None,
        mirror: IncidentMirror | None = None,
    ) -> None:
        self.db = db
        self.writer: Gateway = writer if writer is not None else db
        self.mirror = mirror
        self.settings = settings
        self.enricher = enricher

    def _write(self, work: Callable[[Any], None]) -> None:
        """Run ``work`` in one transaction of the writer, then let the mirror pull. A second
        copy of an agency's external id (two imports racing) is refused as a whole."""
        try:
            self.writer.transaction(work)
        except IncidentError:
            raise
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == UNIQUE_VIOLATION:
                raise IncidentError("an incident with this external id is already stored") from exc
            raise
        if self.mirror is not None:
            self.mirror.sync()

    def validate(self, item: NewIncident) -> None:
        city = self.settings.city
        if self.settings.category(item.category) is None:
            raise IncidentError(f"unknown category {item.category!r}")
        if item.priority not in PRIORITIES:
            raise IncidentError(f"priority must be one of {PRIORITIES}")
        if item.source not in SOURCES and not self._feed_source(item.source):
            raise IncidentError(f"source must be one of {SOURCES} or feed:<agency>")
        if item.status not in STATUSES:
            raise IncidentError(f"unknown status {item.status!r}")
        if not city.bbox.contains(item.lon, item.lat):
            raise IncidentError(f"position {item.lat:.5f}, {item.lon:.5f} is outside the city")
        if item.occurred_at.tzinfo is None:
            raise IncidentError("occurred_at needs a time zone")

    def _feed_source(self, source: str) -> bool:
        """``feed:<agency>``: sent by that agency's system through /api/incidents."""
        agency = source.removeprefix(FEED_PREFIX)
        return source.startswith(FEED_PREFIX) and any(
            a.id == agency for a in self.settings.agencies
        )

    def rows(self, items: Sequence[NewIncident], actor: str) -> list[list[Any]]:
        """Validated rows with derived columns, ready to insert (nothing written)."""
        for item in items:
            self.validate(item)
        derived = self.enricher.derive(
            [i.lon for i in items], [i.lat for i in items], [i.occurred_at for i in items]
        )
        now = datetime.now(UTC)
        rows = []
        for k, item in enumerate(items):
            category = self.settings.category(item.category)
            assert category is not None
            distance = float(derived["camera_distance_m"][k])
            rows.append(
                [
                    item.occurred_at,
                    item.reported_at or item.occurred_at,
                    item.category,
                    item.priority,
                    item.status,
                    item.lat,
                    item.lon,
                    derived["kecamatan"][k],
                    int(derived["h3_r7"][k]),
                    int(derived["h3_r8"][k]),
                    int(derived["h3_r9"][k]),
                    derived["nearest_camera"][k],
                    None if np.isnan(distance) else distance,
                    int(derived["local_hour"][k]),
                    int(derived["local_dow"][k]),
                    category.lead,
                    item.source,
                    item.external_id,
                    item.description,
                    actor,
                    now,
                    derived["kelurahan"][k],
                ]
            )
        return rows

    def insert(self, items: Sequence[NewIncident], actor: str) -> list[int]:
        """Insert incidents and their 'created' events in one transaction; returns their ids."""
        rows = self.rows(items, actor)
        ids: list[int] = []
        self._write(lambda db: self._insert_rows(db, rows, actor, ids))
        return ids

    def insert_batches(self, batches: Iterable[Sequence[NewIncident]], actor: str) -> int:
        """Insert every batch and their events in one transaction, holding one batch in memory
        at a time: each is derived and staged as a Parquet file as it is produced, then all of
        them go in with one statement (and their events with one more). An exception raised
        while the batches are produced rolls back everything. Returns how many were written."""
        written = 0

        def work(db: Gateway) -> None:
            nonlocal written
            state = self.settings.paths.state  # on disk beside the data, not a RAM-backed /tmp
            state.mkdir(parents=True, exist_ok=True)
            _sweep_staging(state)
            with tempfile.TemporaryDirectory(prefix=".import-", dir=state) as folder:
                staged: list[Path] = []
                for items in batches:
                    if not items:
                        continue
                    rows = self.rows(items, actor)
                    frame = _incident_frame(rows, assign_category_codes(db, {r[2] for r in rows}))
                    staged.append(Path(folder) / f"{len(staged):06d}.parquet")
                    frame.to_parquet(staged[-1], index=False)
                    written += len(rows)
                    del rows, frame
                first = int(db.execute("SELECT coalesce(max(id), 0) FROM incidents")[0][0])
                db.insert_files("incidents", (*COLUMNS, "category_code"), staged)
                _created_events(db, first, "updated_at")

        self._write(work)
        return written

    def _insert_rows(
        self, db: Gateway, rows: list[list[Any]], actor: str, ids: list[int] | None
    ) -> None:
        """Insert rows (from :meth:`rows`) and their events inside the running transaction;
        their ids go to ``ids`` when it is given."""
        codes = assign_category_codes(db, {row[2] for row in rows})
        columns = (*COLUMNS, "category_code")
        if len(rows) > BULK_FROM:
            found = self._insert_many(db, rows, codes, ids is not None)
            if ids is not None:
                ids.extend(found)
            return
        placeholders = ", ".join("?" * len(columns))
        for row in rows:
            new_id = db.execute(
                f"INSERT INTO incidents ({', '.join(columns)}) VALUES ({placeholders}) "
                "RETURNING id",
                [*row, codes[row[2]]],
            )[0][0]
            if ids is not None:
                ids.append(int(new_id))
            db.execute(
                "INSERT INTO incident_events (incident_id, happened_at, kind, to_status, "
                "agency, note, actor) VALUES (?, ?, 'created', ?, ?, ?, ?)",
                [new_id, row[AT_UPDATED], row[AT_STATUS], row[AT_LEAD], None, actor],
            )

    @staticmethod
    def _insert_many(
        db: Gateway, rows: list[list[Any]], codes: dict[str, int], want_ids: bool = True
    ) -> list[int]:
        """Many incidents in one columnar insert and their 'created' events in one statement
        (row by row, 300,000 rows took ~6 min; this way seconds). Returns their ids (when
        wanted)."""
        first, mine = _append(db, _incident_frame(rows, codes), codes, "updated_at")
        if not want_ids:
            return []
        found = db.execute(f"SELECT id FROM incidents WHERE id > ?{mine} ORDER BY id", [first])
        return [int(r[0]) for r in found]

    def bulk_load(
        self, history: History, actor: str, source: str = "import", chunk: int = 1_000_000
    ) -> int:
        """Load a synthetic (or imported) history fast: derived columns in chunks, one
        transaction, one 'created' event per incident."""
        self._write(lambda db: self._load(db, history, actor, source, chunk))
        return len(history)

    def seed_if_empty(self, make: Callable[[], History], actor: str = "demo") -> int:
        """Load ``make()`` if no incident is stored yet — in PostgreSQL under a lock, so that
        replicas starting together seed once. Returns the incidents loaded."""
        loaded = 0

        def work(db: Gateway) -> None:
            nonlocal loaded
            if db.dialect == "postgresql":
                db.execute("SELECT pg_advisory_xact_lock(?)", [SEED_LOCK])
            if int(db.execute("SELECT count(*) FROM incidents")[0][0]) == 0:
                history = make()
                self._load(db, history, actor, "import", 1_000_000)
                loaded = len(history)

        self._write(work)
        return loaded

    def _load(self, db: Gateway, history: History, actor: str, source: str, chunk: int) -> None:
        import pandas as pd

        total = len(history)
        categories = {c.id: c.lead for c in self.settings.incident_categories}
        now = datetime.now(UTC)
        for begin in range(0, total, chunk):
            part = slice(begin, min(total, begin + chunk))
            occurred = pd.to_datetime(history.occurred_at[part], unit="s", utc=True)
            derived = self.enricher.derive(
                history.lon[part], history.lat[part], history.occurred_at[part]
            )
            frame = pd.DataFrame(
                {
                    "occurred_at": occurred,
                    "reported_at": occurred,
                    "category": history.category[part],
                    "priority": history.priority[part],
                    "status": history.status[part],
                    "lat": history.lat[part],
                    "lon": history.lon[part],
                    **derived,
                    "lead_agency": pd.Series(history.category[part]).map(categories).to_numpy(),
                    "source": source,
                    "external_id": None,
                    "description": "synthetic",
                    "created_by": actor,
                    "updated_at": now,
                }
            )
            codes = assign_category_codes(db, set(frame["category"].unique()))
            _append(db, frame, codes, "reported_at")

    def create(self, item: NewIncident, actor: str) -> int:
        return self.insert([item], actor)[0]

    def transition(
        self, incident_id: int, to_status: str, actor: str, note: str | None = None
    ) -> None:
        """Move an incident along its lifecycle; refuses what the rules forbid."""
        now = datetime.now(UTC)

        def work(db: Gateway) -> None:
            # Read under a row lock in PostgreSQL: two replicas moving one incident at once
            # take turns, and the second is judged against the first one's result.
            lock = " FOR UPDATE" if db.dialect == "postgresql" else ""
            rows = db.execute(f"SELECT status FROM incidents WHERE id = ?{lock}", [incident_id])
            if not rows:
                raise IncidentError(f"no incident {incident_id}")
            current = rows[0][0]
            if to_status not in TRANSITIONS.get(current, ()):
                raise IncidentError(f"cannot go from {current} to {to_status}")
            db.execute(
                "UPDATE incidents SET status = ?, updated_at = ? WHERE id = ?",
                [to_status, now, incident_id],
            )
            db.execute(
                "INSERT INTO incident_events (incident_id, happened_at, kind, from_status, "
                "to_status, note, actor) VALUES (?, ?, 'status', ?, ?, ?, ?)",
                [incident_id, now, current, to_status, note, actor],
            )

        self._write(work)

    def assign(self, incident_id: int, agency: str, actor: str, note: str | None = None) -> None:
        if self.settings.agency(agency) is None:
            raise IncidentError(f"unknown agency {agency!r}")
        now = datetime.now(UTC)

        def work(db: Gateway) -> None:
            db.execute(
                "UPDATE incidents SET lead_agency = ?, updated_at = ? WHERE id = ?",
                [agency, now, incident_id],
            )
            db.execute(
                "INSERT INTO incident_events (incident_id, happened_at, kind, agency, note, "
                "actor) VALUES (?, ?, 'assigned', ?, ?, ?)",
                [incident_id, now, agency, note, actor],
            )

        self._write(work)

    def note(self, incident_id: int, text: str, actor: str) -> None:
        self.writer.execute(
            "INSERT INTO incident_events (incident_id, happened_at, kind, note, actor) "
            "VALUES (?, ?, 'note', ?, ?)",
            [incident_id, datetime.now(UTC), text, actor],
        )

    def get(self, incident_id: int) -> dict[str, Any] | None:
        rows = self.db.execute(
            f"SELECT id, {', '.join(COLUMNS)} FROM incidents WHERE id = ?", [incident_id]
        )
        if not rows:
            return None
        return dict(zip(("id", *COLUMNS), rows[0], strict=True))

    def events(self, incident_id: int) -> list[dict[str, Any]]:
        """An incident's event log, oldest first, from the system of record (in cluster mode
        the events are not copied to the replicas: only one incident's are ever read)."""
        names = ("happened_at", "kind", "from_status", "to_status", "agency", "note", "actor")
        order = "seq" if self.writer.dialect == "postgresql" else "rowid"
        rows = self.writer.execute(
            f"SELECT {', '.join(names)} FROM incident_events WHERE incident_id = ? "
            f"ORDER BY happened_at, {order}",
            [incident_id],
        )
        return [dict(zip(names, r, strict=True)) for r in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM incidents")[0][0])

    def external_ids(self, source: str) -> set[str]:
        """External ids already stored from ``source`` (an import skips them)."""
        rows = self.db.execute(
            "SELECT external_id FROM incidents WHERE source = ? AND external_id IS NOT NULL",
            [source],
        )
        return {str(r[0]) for r in rows}

    def fill_places(self, after_id: int, chunk: int = 20_000) -> tuple[int, int]:
        """Set the finer level's place (kelurahan) of the next ``chunk`` incidents after
        ``after_id`` from the installed boundaries, in one transaction of the writer. Returns
        the last id done and how many incidents remain after it (0: finished)."""
        rows = self.writer.execute(
            "SELECT id, lon, lat FROM incidents WHERE id > ? ORDER BY id LIMIT ?",
            [after_id, chunk],
        )
        if not rows:
            return after_id, 0
        ids = [int(r[0]) for r in rows]
        names = self.enricher.places(
            np.asarray([r[1] for r in rows], dtype=float),
            np.asarray([r[2] for r in rows], dtype=float),
        )
        pairs = list(zip(ids, names.tolist(), strict=True))

        def work(db: Gateway) -> None:
            for start in range(0, len(pairs), 1000):
                part = pairs[start : start + 1000]
                db.execute(
                    "UPDATE incidents SET kelurahan = v.k FROM (VALUES "
                    + ", ".join("(CAST(? AS BIGINT), CAST(? AS TEXT))" for _ in part)
                    + ") AS v(id, k) WHERE incidents.id = v.id "
                    "AND incidents.kelurahan IS DISTINCT FROM v.k",
                    [value for pair in part for value in pair],
                )

        self._write(work)
        left = self.writer.execute("SELECT count(*) FROM incidents WHERE id > ?", [ids[-1]])
        return ids[-1], int(left[0][0])

    def category_words(self) -> dict[str, str]:
        """Category words remembered from import previews (folded word → category id), read
        where they are written; none while that database cannot be reached."""
        try:
            rows = self.writer.execute("SELECT word, category FROM incident_category_words")
        except Exception as exc:  # an import still reads the city file's words
            log.warning("remembered category words unreadable: %s", exc)
            return {}
        return {str(w): str(c) for w, c in rows if self.settings.category(str(c)) is not None}

    def remember_category_words(self, words: dict[str, str], actor: str) -> None:
        """Remember what other systems' category words mean (word as written → category id);
        a word remembered before takes its new meaning."""
        for word, category in words.items():
            if self.settings.category(category) is None:
                raise IncidentError(f"unknown category {category!r}")
            if not normalise_name(word):
                raise IncidentError("an empty word cannot be remembered")
        now = datetime.now(UTC)
        rows = [[normalise_name(w), c, actor, now] for w, c in words.items()]

        def work(db: Gateway) -> None:
            db.executemany(
                "INSERT INTO incident_category_words VALUES (?, ?, ?, ?) ON CONFLICT (word) "
                "DO UPDATE SET category = excluded.category, added_by = excluded.added_by, "
                "added_at = excluded.added_at",
                rows,
            )

        self.writer.transaction(work)

    def stored_external_ids(self, source: str, external_ids: Sequence[str]) -> dict[str, int]:
        """Which of ``external_ids`` from ``source`` are stored, and as which incident; read
        where incidents are written (a replay sent to another replica is found too)."""
        found: dict[str, int] = {}
        unique = sorted(set(external_ids))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            rows = self.writer.execute(
                "SELECT external_id, id FROM incidents WHERE source = ? AND external_id IN "
                f"({', '.join('?' * len(part))})",
                [source, *part],
            )
            found.update({str(e): int(i) for e, i in rows})
        return found

    def scope_of(self, incident_id: int) -> tuple[str, str] | None:
        """An incident's lead agency and source, read where incidents are written."""
        rows = self.writer.execute(
            "SELECT lead_agency, source FROM incidents WHERE id = ?", [incident_id]
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def listing(
        self,
        filters: Filters,
        columns: Sequence[str],
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[tuple[Any, ...]]:
        """``columns`` of the incidents ``filters`` select, by occurrence time."""
        unknown = set(columns) - {"id", *COLUMNS}
        if unknown:
            raise ValueError(f"unknown incident columns {sorted(unknown)}")
        where, params = filters.where(dict(category_codes(self.db)) if filters.categories else None)
        order = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT {', '.join(columns)} FROM incidents WHERE {where} ORDER BY occurred_at {order}"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, limit]
        return self.db.execute(sql, params)

    def counts_in_windows(
        self, windows: Sequence[tuple[datetime, datetime]], agencies: tuple[str, ...] = ()
    ) -> list[int]:
        """Incidents that occurred in each window (inclusive), in one pass over the table."""
        scope, params = _agency_scope(agencies)
        counts = ", ".join(
            "count(*) FILTER (WHERE occurred_at >= ? AND occurred_at <= ?)" for _ in windows
        )
        first = min(w[0] for w in windows)
        last = max(w[1] for w in windows)
        row = self.db.execute(
            f"SELECT {counts} FROM incidents WHERE occurred_at >= ? AND occurred_at <= ?{scope}",
            [*(t for window in windows for t in window), first, last, *params],
        )[0]
        return [int(n) for n in row]

    def open_summary(
        self, agencies: tuple[str, ...] = (), limit: int = 10
    ) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
        """Open incidents by priority, and the newest open P1s (id, category, kecamatan or '—',
        status, reported_at, lead agency)."""
        scope, params = _agency_scope(agencies)
        status = f"status IN ({', '.join('?' * len(OPEN_STATUSES))})"
        counts = dict.fromkeys(PRIORITIES, 0)
        for priority, n in self.db.execute(
            f"SELECT priority, count(*) FROM incidents WHERE {status}{scope} GROUP BY priority",
            [*OPEN_STATUSES, *params],
        ):
            counts[priority] = int(n)
        rows = self.db.execute(
            f"""SELECT id, category, coalesce(kecamatan, '—'), status, reported_at, lead_agency
                FROM incidents WHERE priority = 'P1' AND {status}{scope}
                ORDER BY reported_at DESC LIMIT ?""",
            [*OPEN_STATUSES, *params, limit],
        )
        return counts, rows

    def likely_duplicates(
        self,
        item: NewIncident,
        radius_m: float = DUPLICATE_RADIUS_M,
        window: timedelta = DUPLICATE_WINDOW,
    ) -> list[dict[str, Any]]:
        """Incidents of the same category within ``radius_m`` (metres, EPSG:32748) whose
        occurrence lies within ``window`` of ``item``'s: what a second caller reports again."""
        box = radius_m / 111_000 * 1.5  # degrees, generous: the metric test below decides
        rows = self.db.execute(
            "SELECT id, occurred_at, status, lat, lon FROM incidents "
            "WHERE category = ? AND occurred_at BETWEEN ? AND ? "
            "AND lat BETWEEN ? AND ? AND lon BETWEEN ? AND ? ORDER BY occurred_at DESC",
            [
                item.category,
                item.occurred_at - window,
                item.occurred_at + window,
                item.lat - box,
                item.lat + box,
                item.lon - box,
                item.lon + box,
            ],
        )
        if not rows:
            return []
        x0, y0 = self.enricher.metric(np.array([item.lon]), np.array([item.lat]))
        xs, ys = self.enricher.metric(
            np.array([r[4] for r in rows], dtype=float), np.array([r[3] for r in rows], dtype=float)
        )
        metres = np.hypot(xs - x0[0], ys - y0[0])
        return [
            {"id": r[0], "occurred_at": r[1], "status": r[2], "metres": round(float(m))}
            for r, m in zip(rows, metres, strict=True)
            if m <= radius_m
        ]
