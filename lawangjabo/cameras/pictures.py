"""Pictures between the zone pollers and the center (cluster mode), through PostgreSQL.

A zone poller keeps its pictures in its own :class:`SnapshotStore`; after each new good picture
it uploads that camera's latest picture and thumbnail (only the latest: a link that was down
delivers the newest picture, not every one it missed). Every app replica mirrors the rows newer
than the last it saw into its own store, so the map, the wall and the API read pictures exactly
as in the embedded default, and the history a replica shows is what it received (bounded by
its store's limits). The table ``camera_pictures`` is owned here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime

from lawangjabo.cameras.snapshots import SnapshotMeta, SnapshotStore
from lawangjabo.storage.db import Gateway

log = logging.getLogger(__name__)


def upload_latest(db: Gateway, store: SnapshotStore, camera_id: str) -> datetime | None:
    """Send ``camera_id``'s latest picture to the center unless the center has it (or a newer
    one) already; returns when it was taken (None: no picture here yet)."""
    meta = store.meta(camera_id)
    picture = store.latest_path(camera_id)
    thumb = store.latest_path(camera_id, thumb=True)
    if meta is None or picture is None or thumb is None:
        return None
    fields = asdict(meta)
    fields["taken_at"] = meta.taken_at.isoformat()
    fields["signature"] = meta.signature.hex()
    db.execute(
        "INSERT INTO camera_pictures AS p (camera_id, taken_at, picture, thumb, meta) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (camera_id) DO UPDATE SET "
        "taken_at = excluded.taken_at, picture = excluded.picture, thumb = excluded.thumb, "
        "meta = excluded.meta, stored_at = clock_timestamp() "
        "WHERE p.taken_at < excluded.taken_at",
        [camera_id, meta.taken_at, picture.read_bytes(), thumb.read_bytes(), json.dumps(fields)],
    )
    return meta.taken_at


# Rows are stamped when written; one written a moment earlier may commit a moment later, so
# each pass looks this far back (names and times only; pictures are fetched when new here).
MIRROR_OVERLAP_S = 2


def mirror(db: Gateway, store: SnapshotStore, since: datetime | None) -> datetime | None:
    """Copy into ``store`` every picture the center received after ``since`` that it does not
    have; returns the newest arrival seen (pass it back next time)."""
    recent = db.execute(
        "SELECT camera_id, taken_at, stored_at FROM camera_pictures"
        + (f" WHERE stored_at > ? - interval '{MIRROR_OVERLAP_S} s'" if since is not None else ""),
        [since] if since is not None else [],
    )
    newest = max((row[2] for row in recent), default=since)
    wanted = []
    for camera_id, taken_at, _ in recent:
        try:
            known = store.meta(camera_id)
        except ValueError:  # an id the store refuses (unsafe): nothing to mirror
            continue
        if known is None or known.taken_at < taken_at:
            wanted.append(camera_id)
    if not wanted:
        return newest
    for camera_id, picture, thumb, meta_json in db.execute(
        "SELECT camera_id, picture, thumb, meta FROM camera_pictures WHERE camera_id = ANY(?)",
        [wanted],
    ):
        try:
            fields = json.loads(meta_json)
            fields["taken_at"] = datetime.fromisoformat(fields["taken_at"])
            fields["signature"] = bytes.fromhex(fields.get("signature") or "")
            store.save(camera_id, bytes(picture), bytes(thumb), SnapshotMeta(**fields))
        except (ValueError, TypeError, KeyError, OSError) as exc:  # one bad row, not all
            log.error("picture of %s not mirrored: %s", camera_id, exc)
    return newest
