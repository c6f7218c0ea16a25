"""Shared UI helpers for the pages (the only UI module besides the page scripts)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import streamlit as st

from lawangjabo.analytics import Filters
from lawangjabo.auth import COOKIE, PAGES, Session, camera_visible
from lawangjabo.healthview import STATE_COLOURS, STATE_LABELS, Tile, age_text
from lawangjabo.incident_io import export_incidents, import_incidents, rejects_csv
from lawangjabo.incidents import IncidentStore
from lawangjabo.incidentview import cell_centre, pick_deck
from lawangjabo.registry import Camera
from lawangjabo.services import Services, Snapshot, get_services

REFRESH_WAIT_S = 2.5


def services() -> Services:
    """The process-wide services for the configured city."""
    return get_services()


def auth_enabled() -> bool:
    return services().settings.auth.enabled


def current_session() -> Session | None:
    """Who is signed in: the session named by this browser's cookie (checked on the server).
    With sign-in disabled by configuration, everyone is a local admin."""
    if not auth_enabled():
        return Session("local", "admin", (), 0.0, 0.0)
    return services().sessions.get(st.context.cookies.get(COOKIE))


def allowed_pages(session: Session) -> frozenset[str]:
    return PAGES[session.role]


def visible_cameras(session: Session) -> list[Camera]:
    """The registry's cameras this account may see (agency scope)."""
    return [
        c
        for c in services().snapshot().registry.cameras
        if camera_visible(session.agencies, c.props.owner, c.props.scope)
    ]


def require_page(name: str) -> Session:
    """Stop the page unless the signed-in role may use it (enforced here, not by hiding)."""
    session = current_session()
    if session is None or name not in PAGES[session.role]:
        st.error("This page is not available for your role.")
        st.stop()
    assert session is not None
    return session


def status_banners(svc: Services) -> None:
    """Say plainly when feeds are simulated or when nobody is polling the cameras."""
    if svc.settings.cameras.simulate:
        st.info(
            "**Simulated feeds** — every camera picture comes from the built-in camera "
            "simulator (demo mode), not from real cameras.",
            icon=":material/science:",
        )
    mode = svc.settings.cameras.poller
    if mode == "off":
        return
    status = svc.poller_status()
    if not status["alive"]:
        since = (
            "never reported"
            if status["age_s"] is None
            else (f"last heard {age_text(status['age_s'])}")
        )
        st.error(
            f"**The camera poller is not running** ({mode}; {since}). Camera states and "
            "pictures below are as old as they say.",
            icon=":material/link_off:",
        )


def registry_banner(snapshot: Snapshot) -> None:
    """Say plainly when registry features were rejected; list them on demand."""
    rejects = snapshot.registry.rejects
    if not rejects:
        return
    st.warning(
        f"{len(rejects)} camera record(s) in the registry were rejected and are not on the map. "
        "The valid cameras are shown.",
        icon=":material/warning:",
    )
    with st.expander("Rejected registry records"):
        for reject in rejects:
            st.text(str(reject))


def districts_caption(snapshot: Snapshot) -> str:
    layer = snapshot.districts
    if layer.official:
        return f"Districts: {layer.source}."
    return (
        "Districts are **approximate** (Voronoi cells of reference points) until official "
        "boundaries are imported: `python -m lawangjabo import-districts FILE`."
    )


def state_badge(state: str) -> str:
    r, g, b = STATE_COLOURS[state]
    return (
        f"<span style='background:rgb({r},{g},{b});color:white;border-radius:4px;"
        f"padding:1px 6px;font-size:0.8em'>{STATE_LABELS[state].upper()}</span>"
    )


def legend() -> str:
    return " ".join(
        state_badge(s) for s in ("online", "stale", "frozen", "dark", "offline", "pending")
    )


def local_time(when: datetime, tz: str) -> str:
    return when.astimezone(ZoneInfo(tz)).strftime("%d %b %Y %H:%M:%S %Z")


def status_line(tile: Tile) -> None:
    """The state badge and how old the picture is, in one line."""
    if tile.last_good_age_s is None:
        text = "no picture yet" if tile.state != "unconfigured" else "no stream known"
        if tile.last_error and tile.state == "offline":
            text += f" · {tile.last_error}"
    elif tile.failed:
        text = f"last good frame {age_text(tile.last_good_age_s)}"
        if tile.last_error and tile.state == "offline":
            text += f" · {tile.last_error}"
    else:
        text = f"picture {age_text(tile.last_good_age_s)}"
    st.markdown(f"{state_badge(tile.state)} {text}", unsafe_allow_html=True)


def snapshot_view(svc: Services, tile: Tile, thumb: bool = False) -> None:
    """The camera's last good picture (a failing camera's is marked by its status line)."""
    path = svc.store.latest_path(tile.camera_id, thumb=thumb)
    if path is None:
        st.caption("No picture yet.")
        return
    st.image(path.read_bytes(), width="stretch")


def history_view(svc: Services, camera_id: str) -> None:
    """'What did it show at 14:05?'"""
    tz = ZoneInfo(svc.settings.city.timezone)
    stamps = svc.store.history(camera_id)
    if not stamps:
        st.caption("No stored pictures yet.")
        return
    first, last = stamps[0].astimezone(tz), stamps[-1].astimezone(tz)
    st.caption(
        f"{len(stamps)} stored pictures, {first:%d %b %H:%M} – {last:%d %b %H:%M} "
        f"{svc.settings.city.timezone}"
    )
    day = st.date_input(
        "Day",
        value=last.date(),
        min_value=first.date(),
        max_value=last.date(),
        key=f"hist-day-{camera_id}",
    )
    at = st.time_input(
        "Time",
        value=last.time().replace(second=0, microsecond=0),
        step=timedelta(minutes=1),
        key=f"hist-time-{camera_id}",
    )
    when = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
    found = svc.store.at(camera_id, when)
    if found:
        taken, path = found
        st.image(
            path.read_bytes(), caption=f"taken {local_time(taken, svc.settings.city.timezone)}"
        )


def incident_import(store: IncidentStore, actor: str) -> None:
    """Upload a CSV / GeoJSON / Parquet file of incidents: all rows or none, with a report."""
    upload = st.file_uploader("Import incidents", type=["csv", "geojson", "json", "parquet"])
    partial = st.checkbox("Import the valid rows even if some are rejected")
    if upload is None or not st.button("Import", key="import-incidents"):
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        result = import_incidents(store, path, actor, allow_partial=partial)
    services().audit(
        actor,
        "incident_import",
        {"file": upload.name, "written": result.written, "rejected": len(result.rejects)},
    )
    if result.written:
        st.success(f"{result.written} incidents imported.")
    if result.rejects:
        st.error(
            f"{len(result.rejects)} problems; "
            f"{'nothing was imported' if not result.written else 'those rows were skipped'}."
        )
        st.download_button(
            "Download the rejects report",
            rejects_csv(result.rejects),
            file_name="rejects.csv",
            mime="text/csv",
        )


def incident_export(store: IncidentStore, filters: Filters, actor: str) -> None:
    """Download the filtered incidents; each file is built (and audited) only when clicked."""

    def builder(fmt: str) -> Callable[[], bytes]:
        def build() -> bytes:
            services().audit(actor, "incident_export", {"format": fmt})
            return export_incidents(store, filters, fmt)

        return build

    columns = st.columns(3)
    for column, (fmt, mime) in zip(
        columns,
        (
            ("csv", "text/csv"),
            ("geojson", "application/geo+json"),
            ("parquet", "application/octet-stream"),
        ),
        strict=True,
    ):
        column.download_button(
            f"Export {fmt.upper()}",
            builder(fmt),
            file_name=f"incidents.{fmt}",
            mime=mime,
            key=f"export-{fmt}",
        )


def incident_place_picker(svc: Services) -> None:
    """A map to click where a new incident is; the choice goes to the form's coordinates."""
    with st.expander("New incident: click the map, or pick a site, a camera or coordinates"):
        clicked = st.pydeck_chart(
            pick_deck(svc, st.session_state.get("picked_cell")),
            on_select="rerun",
            selection_mode="single-object",
            key="pick-map",
            height=320,
        )
        chosen = clicked.selection.objects.get("pick-grid") or []
        if chosen:
            st.session_state.picked_cell = chosen[0]["hex"]
        cell = st.session_state.get("picked_cell")
        if cell:
            st.caption("Picked on the map: {:.5f}, {:.5f}".format(*cell_centre(cell)))
