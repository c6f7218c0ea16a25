"""Shared UI helpers for the pages (the only UI module besides the page scripts)."""

from __future__ import annotations

import functools
import hashlib
import html
import json
import logging
import secrets
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from lawangjabo.alerts.engine import Alert, render
from lawangjabo.auth.access import COOKIE, HOME_PAGE, PAGES, Session
from lawangjabo.cameras import maintenance
from lawangjabo.cameras.capture import error_label
from lawangjabo.cameras.registry import Camera
from lawangjabo.i18n import LANGUAGES, N_, SOURCE_LANGUAGE, Translator, as_message
from lawangjabo.incidents.analytics import Filters
from lawangjabo.incidents.evidence import evidence_zip
from lawangjabo.incidents.files import (
    COLUMN_NOTES,
    EXPORT_FORMATS,
    READABLE_COLUMNS,
    ImportChoices,
    ImportResult,
    export_incidents,
    import_incidents,
    read_incidents,
    rejects_csv,
)
from lawangjabo.incidents.scope import CameraScope
from lawangjabo.incidents.store import PRIORITIES, IncidentError, IncidentStore, NewIncident
from lawangjabo.labels import COLUMN_LABELS
from lawangjabo.server.services import Services, Snapshot, get_services
from lawangjabo.views.brief import Brief, visible_alerts
from lawangjabo.views.briefimage import daily_brief_png
from lawangjabo.views.healthview import STATE_COLOURS, Tile, maintenance_rows, state_label
from lawangjabo.views.incidentview import (
    cell_centre,
    incident_witnesses,
    level_layer,
    pick_deck,
)
from lawangjabo.views.mapview import brief_deck

log = logging.getLogger("lawangjabo.ui")


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


def tr() -> Translator:
    """This browser session's language: the account's choice, else the city's default."""
    settings = services().settings
    lang = st.session_state.get("lang")
    if lang not in LANGUAGES:
        lang = settings.city.language
        session = current_session()
        if session is not None and auth_enabled():
            account = services().auth.users.lookup(session.user)
            if account is not None and account.language in LANGUAGES:
                lang = account.language
        st.session_state["lang"] = lang
    return Translator(lang, settings.city.timezone)


def _(message: str) -> str:
    """Translate a UI string into this session's language."""
    return tr().gettext(message)


def multiselect(label: str, options: Any, **kwargs: Any) -> Any:
    """``st.multiselect`` whose empty state says what it means in the user's language (an
    empty filter is no filter), not Streamlit's English 'Choose options'."""
    kwargs.setdefault("placeholder", _("All"))
    return st.multiselect(label, options, **kwargs)


def chart(figure: Any) -> None:
    """An Altair chart in the user's language: day and month names, 24-hour times."""
    st.altair_chart(figure.configure(locale=tr().chart_locale()), width="stretch")


def wall_clock(moments: Any) -> Any:
    """Times as the city's wall clock, labelled UTC: charts on a UTC scale then show WIB
    whatever the browser's own time zone (pandas series of aware datetimes)."""
    zone = services().settings.city.timezone
    return moments.dt.tz_convert(zone).dt.tz_localize(None).dt.tz_localize("UTC")


def language_picker(session: Session) -> None:
    """Switch the UI language; remembered for the account."""
    current = tr().lang

    def changed() -> None:
        lang = st.session_state["lang-picker"]
        st.session_state["lang"] = lang
        if auth_enabled():
            try:
                services().auth.users.set_language(session.user, lang)
            except (ValueError, OSError):  # accounts file unreadable or read-only: logged
                return
            services().audit(session.user, "language_set", {"language": lang})

    st.selectbox(
        _("Language"),
        list(LANGUAGES),
        index=list(LANGUAGES).index(current),
        format_func=lambda code: LANGUAGES[code],
        key="lang-picker",
        on_change=changed,
    )


def home_page(session: Session) -> str:
    """The page this role opens on (the leader's is the brief)."""
    return HOME_PAGE[session.role]


def allowed_pages(session: Session) -> frozenset[str]:
    return PAGES[session.role]


def camera_names() -> dict[str, str]:
    """id → name of the cameras this account may see."""
    return {c.id: c.props.name for c in session_cameras()}


def camera_name(camera_id: str | None) -> str:
    """A camera's name for this account; a dash for none or one outside its agency scope (a
    hidden camera is not named, not even by its id)."""
    return camera_names().get(camera_id or "", "—")


def session_cameras() -> list[Camera]:
    """The cameras this browser session's account may see (none without a session)."""
    session = current_session()
    return visible_cameras(session) if session is not None else []


def visible_cameras(session: Session) -> list[Camera]:
    """The registry's cameras this account may see (agency scope)."""
    return services().visible_cameras(session.agencies)


def camera_scope(session: Session) -> CameraScope:
    """What this account may know of cameras in incident fields (agency scope)."""
    return services().camera_scope(session.agencies)


def require_page(name: str) -> Session:
    """Stop the page unless the signed-in role may use it (enforced here, not by hiding)."""
    session = current_session()
    if session is None or name not in PAGES[session.role]:
        st.error(_("This page is not available for your role."))
        st.stop()
    assert session is not None
    return session


PAGE_STYLE = """
<style>
/* The map is what an operator sees first: less empty space above the page. */
[data-testid="stMainBlockContainer"] { padding-top: 3.2rem; padding-bottom: 2rem; }
details.lj-strip { border-radius: 6px; margin: 0 0 .25rem 0; font-size: .9rem; }
details.lj-strip > summary { cursor: pointer; list-style: none; display: flex; flex-wrap: nowrap;
  gap: .35rem; align-items: center; overflow: hidden; }
details.lj-strip > summary::-webkit-details-marker { display: none; }
details.lj-strip > summary::after { content: "▾"; color: #666; margin-left: .2rem; }
details.lj-strip[open] > summary::after { content: "▴"; }
.lj-chip { border-radius: 999px; padding: 2px 10px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; flex: 0 1 auto; min-width: 2.5em; }
.lj-chip.info { background: #e8f0fe; color: #1a3e8c; flex-shrink: 0; }
.lj-chip.bad { background: #fde7e7; color: #9b1c1c; font-weight: 600; }
details.lj-strip > div { padding: .4rem .6rem; border-left: 3px solid #ddd; margin-top: .3rem; }
/* The operations map fills the window under the strip; its details panel sits beside it. */
.st-key-ops-map .st-key-ops_map, .st-key-ops-map [data-testid="stFullScreenFrame"],
.st-key-ops-map [data-testid="stDeckGlJsonChart"] { height: calc(100vh - 190px) !important;
  min-height: 360px; flex: 0 0 auto !important; }
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-left: .5rem; padding-right: .5rem; }
  .st-key-ops-map .st-key-ops_map, .st-key-ops-map [data-testid="stFullScreenFrame"],
  .st-key-ops-map [data-testid="stDeckGlJsonChart"] { height: calc(100vh - 215px) !important; }
  /* On a phone a chosen camera's panel moves above the map, its picture on screen at once. */
  [data-testid="stColumn"]:has(.st-key-camera-chosen) { order: -1; }
  .st-key-camera-details:has(.st-key-camera-chosen) { max-height: 62vh; overflow-y: auto; }
  .st-key-camera-details:not(:has(.st-key-camera-chosen)) { display: none; }
}
</style>
"""


def report_error(exc: BaseException) -> None:
    """A short message with a reference for the person; the traceback only in the server log."""
    reference = secrets.token_hex(4)
    log.log(logging.ERROR, "page error (reference %s)", reference, exc_info=exc)
    message = _(
        "Something went wrong here (reference {ref}). The details are in the server log; "
        "the rest of the app keeps working."
    )
    st.error(message.format(ref=reference))


def guarded(function: Callable[[], None]) -> Callable[[], None]:
    """``function`` with its errors shown by :func:`report_error` (for fragments, which rerun
    on their own, outside the page's guard)."""

    @functools.wraps(function)
    def run() -> None:
        try:
            function()
        except Exception as exc:  # reruns and stops are BaseExceptions: they pass
            report_error(exc)

    return run


def page_style() -> None:
    """The app's few style rules (once per page run, from the entry script)."""
    st.html(PAGE_STYLE)


FRONTEND_TEXTS_JS = (Path(__file__).parent / "assets" / "frontend-texts.js").read_text(
    encoding="utf-8"
)


def frontend_texts() -> None:
    """Streamlit's hard-coded English widget texts in this session's language: a small script
    of ours (no user input in it) swaps them in the browser as they appear."""
    t = tr()
    if t.lang == SOURCE_LANGUAGE and not st.session_state.get("frontend-texts"):
        return  # English from the start: nothing to swap, and no element on every rerun
    st.session_state["frontend-texts"] = True  # once installed, a switch to English tells it
    texts = json.dumps(t.frontend_texts(), ensure_ascii=False).replace("</", "<\\/")
    script = FRONTEND_TEXTS_JS.replace("__TEXTS__", texts)
    with st.sidebar:
        st.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


def _chip(kind: str, text: str) -> str:
    return f"<span class='lj-chip {kind}'>{html.escape(text)}</span>"


FAULT_HEADLINES = {
    "disk": N_("Disk nearly full"),
    "database": N_("Database unavailable"),
    "ingest": N_("Camera results not being stored"),
    "quarantine": N_("Unreadable files set aside"),
    "poller": N_("Camera poller in trouble"),
    "accounts": N_("Accounts file problem"),
    "config": N_("City settings file not reloaded"),
}
FAULT_HELP = {
    "disk": N_("The server's disk is almost full; old pictures are being removed to make room."),
    "database": N_("The database cannot be used; states and incidents may be out of date."),
    "ingest": N_("Poll results wait on the server and are stored when the database accepts them."),
    "quarantine": N_("Some files could not be read and were set aside; an admin must look."),
    "poller": N_("The poller keeps working but cannot save everything; see the details."),
    "accounts": N_("Sign-in may fail for everyone until the accounts file is restored."),
    "config": N_("An edit broke the city settings file; the last good version stays in use."),
}


def _faults(svc: Services) -> dict[str, list[dict[str, Any]]]:
    """The server's problems worth a banner, by kind (the silent poller has its own chip)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for problem in svc.problems():
        if problem["kind"] in FAULT_HEADLINES and not (
            problem["kind"] == "poller" and problem["message"].startswith("camera poller silent")
        ):
            grouped.setdefault(problem["kind"], []).append(problem)
    return grouped


def quarantine_table(svc: Services) -> None:
    """Admins: spool files set aside, with why, and how to put them back."""
    rows = [
        {"folder": folder, "file": q.name, "cause": q.reason, "set_aside": q.at}
        for folder, held in svc.quarantined().items()
        for q in held
    ]
    if not rows:
        return
    st.markdown("**" + _("Files set aside (unreadable)") + "**")
    st.dataframe(labelled(rows), hide_index=True, width="stretch")
    st.caption(
        _(
            "Fix or delete them in the spool's quarantine folder; then put them back with {cmd}."
        ).format(cmd="`python -m lawangjabo spool requeue`")
    )


def _seconds_since(iso: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()


def status_strip(svc: Services, session: Session) -> None:
    """One line on every page: simulated feeds, a silent poller, alerts not acknowledged; it
    expands to the full texts. (Replaces three stacked banners that pushed the map down.)"""
    chips: list[str] = []
    details: list[str] = []
    if svc.settings.cameras.simulate:
        chips.append(_chip("info", _("Simulated feeds")))
        details.append(
            _(
                "**Simulated feeds** — every camera picture comes from the built-in camera "
                "simulator (demo mode), not from real cameras."
            )
        )
    mode = svc.settings.cameras.poller
    if mode != "off":
        status = svc.poller_status()
        if not status["alive"]:
            since = (
                _("never reported")
                if status["age_s"] is None
                else _("last heard {age}").format(age=tr().age(status["age_s"]))
            )
            chips.append(_chip("bad", _("Camera poller not running · {since}").format(since=since)))
            details.append(
                _(
                    "**The camera poller is not running** ({mode}; {since}). Camera states and "
                    "pictures below are as old as they say."
                ).format(mode=mode, since=since)
            )
    for kind, problems in _faults(svc).items():
        headline = _(FAULT_HEADLINES[kind])
        first = min((p["since"] for p in problems if p["since"]), default=None)
        age = "" if first is None else " · " + tr().age(_seconds_since(first))
        chips.append(_chip("bad", headline + age))
        text = f"**{html.escape(headline)}**" + age + " — " + html.escape(_(FAULT_HELP[kind]))
        if session.role == "admin":  # the technical cause, for the person who can fix it
            text += "<br>" + "<br>".join(html.escape(p["message"]) for p in problems)
        details.append(text)
    pending = [a for a in active_alerts(session) if a.acked_by is None]
    if pending:
        chips.append(
            _chip(
                "bad",
                _("{n} alert(s) not acknowledged").format(n=len(pending))
                + " · "
                + alert_text(pending[0]),
            )
        )
        details += [f"- {html.escape(alert_text(a))}" for a in pending[:10]]  # names: files
        if len(pending) > 10:
            details.append("- " + _("… and {n} more").format(n=len(pending) - 10))
        link = _("Open the alerts page")
        details.append(f"<a href='/alerts' target='_self'>{html.escape(link)} →</a>")
    if not chips:
        return
    body = "\n\n".join(details)
    st.markdown(
        f"<details class='lj-strip'><summary>{''.join(chips)}</summary><div>\n\n{body}\n\n"
        "</div></details>",
        unsafe_allow_html=True,
    )


def visible_alert_filter(session: Session, alerts: list[Alert]) -> list[Alert]:
    """Those of ``alerts`` this account may see (agency scope)."""
    cameras = {c.id: c for c in visible_cameras(session)}
    return visible_alerts(alerts, session.agencies, cameras)


def active_alerts(session: Session) -> list[Alert]:
    """Unresolved alerts this account may see."""
    book = services().alerts()
    return visible_alert_filter(session, book.active()) if book is not None else []


def reason_label(kind: str | None) -> str:
    """Why a camera failed, in this session's language."""
    return tr().gettext(error_label(kind))


def column_label(key: str) -> str:
    return tr().gettext(COLUMN_LABELS.get(key, key))


TRANSLATED_VALUES = frozenset(
    {"status", "from_status", "to_status", "kind", "reason", "confidence"}
)


def labelled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows for display: column names and status words translated, times in WIB, ids
    shown as the names people know (categories, agencies, cameras), nothing as 'None'."""
    t = tr()
    svc = services()
    names: dict[str, dict[str, str]] = {
        "category": svc.settings.category_names(t.lang),
        "agency": {a.id: a.name for a in svc.settings.agencies},
        "camera": camera_names(),
    }
    lookup = {"category": "category", "top category": "category", "lead_agency": "agency",
              "agency": "agency", "nearest_camera": "camera"}  # fmt: skip
    shown = []
    for row in rows:
        item: dict[str, Any] = {}
        for key, raw in row.items():
            value = raw
            if raw is None:
                value = "—"
            elif isinstance(raw, datetime):
                value = t.when(raw)
            elif key in lookup and isinstance(raw, str):
                # a camera outside the account's agency scope is not named, not even by its id
                value = names[lookup[key]].get(raw, "—" if lookup[key] == "camera" else raw)
            elif key in TRANSLATED_VALUES and isinstance(raw, str):
                value = t.gettext(error_label(raw) if key == "reason" else raw)
            item[t.gettext(COLUMN_LABELS.get(key, key))] = value
        shown.append(item)
    return shown


def incident_header(incident: dict[str, Any], category: str, agencies: dict[str, str]) -> None:
    """The selected incident's one-line summary and where it is."""
    lead = agencies.get(incident["lead_agency"], incident["lead_agency"])
    st.markdown(
        _("**Incident {id}** · {category} · {priority} · **{status}** · lead: {agency}").format(
            id=incident["id"],
            category=category,
            priority=incident["priority"],
            status=_(incident["status"]),
            agency=lead,
        )
    )
    st.caption(
        _("{kecamatan} · {lat:.5f}, {lon:.5f} · nearest camera {camera} ({metres} m)").format(
            kecamatan=" · ".join(p for p in (incident["kelurahan"], incident["kecamatan"]) if p)
            or "—",
            lat=incident["lat"],
            lon=incident["lon"],
            camera=camera_name(incident["nearest_camera"]),
            metres=incident["camera_distance_m"],
        )
    )


def alert_text(alert: Alert) -> str:
    return render(alert.rule, alert.params, tr())


def alerts_banner(alerts: list[Alert], shown: int = 1) -> None:
    """Unacknowledged alerts, most severe first: the first ``shown`` of them and a link to the
    Alerts page (operators' pages keep it to one line so the map stays in view)."""
    pending = [a for a in alerts if a.acked_by is None]
    if not pending:
        return
    lines = "\n".join(f"- {alert_text(a)}" for a in pending[:shown])
    more = len(pending) - shown
    extra = "\n- " + _("… and {n} more").format(n=more) if more > 0 else ""
    st.error(
        _("**{n} alert(s) not acknowledged**").format(n=len(pending)) + "\n" + lines + extra,
        icon=":material/notifications_active:",
    )
    st.page_link(
        "pages/alerts.py", label=_("Open the alerts page"), icon=":material/arrow_forward:"
    )


def registry_banner(snapshot: Snapshot) -> None:
    """Say plainly when registry features were rejected; list them on demand."""
    rejects = snapshot.registry.rejects
    if not rejects:
        return
    st.warning(
        _(
            "{n} camera record(s) in the registry were rejected and are not on the map. "
            "The valid cameras are shown."
        ).format(n=len(rejects)),
        icon=":material/warning:",
    )
    session = current_session()
    if session is not None and session.agencies:  # a record may name another agency's camera
        st.caption(_("An unrestricted account (an admin) sees which records and why."))
        return
    with st.expander(_("Rejected registry records")):
        for reject in rejects:
            st.text(str(reject))


def visible_warnings(warnings: list[str], cameras: list[Camera]) -> list[str]:
    """The registry's warnings about ``cameras`` (those this account may see): each warning
    starts with its camera's id."""
    ids = {c.id for c in cameras}
    return [w for w in warnings if w.split(":", 1)[0] in ids]


def districts_caption(snapshot: Snapshot, admin: bool = False) -> str:
    """Where the district lines come from; how to import official ones is an admin's detail."""
    layer = snapshot.districts
    if layer.official:
        return _("Districts: {source}.").format(source=layer.source)
    if admin:
        return _(
            "Districts are **approximate** (Voronoi cells of reference points) until official "
            "boundaries are imported: `python -m lawangjabo import-districts FILE`."
        )
    return _("Districts are **approximate** until official boundaries are imported.")


def state_badge(state: str) -> str:
    r, g, b = STATE_COLOURS[state]
    return (
        f"<span style='background:rgb({r},{g},{b});color:white;border-radius:4px;"
        f"padding:1px 6px;font-size:0.8em'>{state_label(state, tr())}</span>"
    )


def legend() -> str:
    return " ".join(
        state_badge(s) for s in ("online", "stale", "frozen", "dark", "offline", "pending")
    )


def local_time(when: datetime) -> str:
    """'28 Nov 2026 07.42.05 WIB' in this session's language."""
    return tr().when(when, seconds=True)


def status_line(tile: Tile, refreshing: bool = False) -> None:
    """The state badge, why, and how old the picture is, in one line (and 'refreshing…' while
    a fresh picture is on its way)."""
    t = tr()
    more = (_("refreshing…"),) if refreshing else ()
    text = " · ".join(p for p in (tile.reason(t), tile.picture_text(t), *more) if p)
    st.markdown(f"{state_badge(tile.state)} {html.escape(text)}", unsafe_allow_html=True)


def snapshot_view(svc: Services, tile: Tile, thumb: bool = False) -> None:
    """The camera's last good picture (a failing camera's is marked by its status line); the
    details panel also says when it was taken, to the second."""
    path = svc.store.latest_path(tile.camera_id, thumb=thumb)
    if path is None:
        st.caption(_("No picture yet."))
        return
    taken = (
        _("taken {when}").format(when=local_time(tile.last_good_at))
        if tile.last_good_at is not None and not thumb
        else None
    )
    st.image(path.read_bytes(), width="stretch", caption=taken)


def history_view(svc: Services, camera_id: str) -> None:
    """'What did it show at 14:05?'"""
    t = tr()
    tz = ZoneInfo(svc.settings.city.timezone)
    stamps = svc.store.history(camera_id)
    if not stamps:
        st.caption(_("No stored pictures yet."))
        return
    first, last = stamps[0].astimezone(tz), stamps[-1].astimezone(tz)
    st.caption(
        _("{n} stored pictures, {first} – {last}").format(
            n=len(stamps), first=t.when(first), last=t.when(last)
        )
    )
    day = st.date_input(
        _("Day"),
        value=last.date(),
        min_value=first.date(),
        max_value=last.date(),
        key=f"hist-day-{camera_id}",
        format="DD/MM/YYYY",
    )
    at = st.time_input(
        _("Time ({zone})").format(zone=t.zone_label),
        value=last.time().replace(second=0, microsecond=0),
        step=timedelta(minutes=1),
        key=f"hist-time-{camera_id}",
    )
    when = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
    found = svc.store.at(camera_id, when)
    if found:
        taken, path = found
        st.image(path.read_bytes(), caption=_("taken {when}").format(when=local_time(taken)))


def incident_import(store: IncidentStore, actor: str) -> None:
    """Import a file of incidents in two steps. The preview says what was found (format,
    encoding, separator), how each column is read (editable), which category words are unknown
    (mapped here once, remembered) and every row's problems, in the reader's language; then
    all rows are written or none, or only the valid rows, as the person chooses."""
    upload = st.file_uploader(
        _("Import incidents"), type=["csv", "xlsx", "geojson", "json", "parquet"]
    )
    if upload is None:
        return
    data = upload.getbuffer()  # Streamlit's own copy, not another one
    state = st.session_state.setdefault("import-choices", {})
    file_key = f"{upload.name}:{len(data)}:{hashlib.sha256(data).hexdigest()[:16]}"
    choices: ImportChoices = state.get(file_key, ImportChoices())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(upload.name).name
        path.write_bytes(data)
        preview = _preview(store, path, file_key, choices)
        st.markdown("**" + _("Preview") + "**")
        for note in preview.notes:
            if as_message(note).template not in COLUMN_NOTES:  # the table below shows those
                st.caption(as_message(note).text(_))
        if preview.columns:
            choices = _column_choices(preview.columns, choices, str(abs(hash(file_key))))
        if preview.unknown_words or choices.words:
            choices = _word_choices(store, preview.unknown_words, choices)
        if choices != state.get(file_key, ImportChoices()):
            state.clear()  # one file's choices at a time
            state[file_key] = choices
            st.rerun()
        good, bad = preview.valid, preview.problems
        _show_rejects(preview)
        if bad:
            st.warning(_("{good} rows can be imported; {bad} problems.").format(good=good, bad=bad))
        else:
            st.success(_("All {good} rows can be imported.").format(good=good))
        left, right = st.columns(2)
        whole = left.button(_("Import all rows"), key="import-incidents", disabled=bool(bad))
        valid = right.button(
            _("Import only the {n} valid rows").format(n=good),
            key="import-valid",
            disabled=not (bad and good),
        )
        if not (whole or valid):
            return
        if choices.words and st.session_state.get("remember-words", True):
            store.remember_category_words(choices.words, actor)
            services().audit(actor, "category_words_remembered", dict(choices.words))
        result = _import_in_turn(store, path, actor, valid, choices, preview.rows)
    st.session_state.pop("import-preview", None)  # the stored ids changed
    services().audit(
        actor,
        "incident_import",
        {"file": upload.name, "written": result.written, "rejected": result.problems},
    )
    if result.written:
        st.success(_("{n} incidents imported.").format(n=result.written))
    if result.problems and not result.written:
        st.error(_("Nothing was imported."))


def _preview(
    store: IncidentStore, path: Path, file_key: str, choices: ImportChoices
) -> ImportResult:
    """The file checked with these choices (nothing kept but counts and the first problems),
    once: a widget change elsewhere on the page does not read a large file again."""
    cached = st.session_state.get("import-preview")
    if cached is not None and cached[0] == file_key and cached[1] == choices:
        found: ImportResult = cached[2]
        return found
    with st.spinner(_("Reading and checking every row …")):
        preview = read_incidents(path, store.settings, store, choices=choices, keep_items=False)
    st.session_state["import-preview"] = (file_key, choices, preview)
    return preview


def _import_in_turn(
    store: IncidentStore, path: Path, actor: str, partial: bool, choices: ImportChoices, rows: int
) -> ImportResult:
    """Import once no other import runs in this process (saying how many are ahead), with a
    progress bar; leaving the page rolls the import back."""
    waiting = st.empty()
    bar = st.progress(0.0, text=_("Importing …"))

    def wait(ahead: int) -> None:
        waiting.info(_("Waiting: {n} import(s) ahead of this one.").format(n=ahead))

    def progress(so_far: ImportResult) -> None:
        said = _("{n} of {total} rows read, checked and written")
        bar.progress(min(1.0, so_far.rows / max(1, rows)), said.format(n=so_far.rows, total=rows))

    with services().import_turns.turn(wait):
        waiting.empty()
        result = import_incidents(store, path, actor, allow_partial=partial, choices=choices,
                                  progress=progress)  # fmt: skip
    bar.empty()
    return result


def _column_choices(columns: dict[str, str], choices: ImportChoices, key: str) -> ImportChoices:
    """The file's columns and what each is read as; a change is the person's choice."""
    rows = pd.DataFrame({"column": list(columns), "read_as": list(columns.values())})
    labels = {k: COLUMN_LABELS.get(k, k) for k in READABLE_COLUMNS}
    heads = {k: _(COLUMN_LABELS[k]) for k in ("column", "read_as")}
    edited = st.data_editor(
        rows,
        hide_index=True,
        disabled=["column"],
        key=f"import-columns-{key}",
        column_config={
            "column": st.column_config.TextColumn(heads["column"]),
            "read_as": st.column_config.SelectboxColumn(
                heads["read_as"],
                options=["", *READABLE_COLUMNS],
                format_func=lambda k: _(labels[str(k)]) if k else _("(not used)"),
            ),
        },
    )
    frame: pd.DataFrame = edited
    chosen = {
        r["column"]: r["read_as"] or ""
        for r in frame.to_dict(orient="records")
        if (r["read_as"] or "") != columns[r["column"]]
    }
    if not chosen:
        return choices
    return ImportChoices({**choices.columns, **chosen}, choices.words)


def _word_choices(
    store: IncidentStore, unknown: dict[str, int], choices: ImportChoices
) -> ImportChoices:
    """A category for each unknown word of the file, remembered for later files if wanted."""
    names = store.settings.category_names(tr().lang)
    st.markdown("**" + _("Category words this system does not know") + "**")
    words = dict(choices.words)
    asked = {**dict.fromkeys(choices.words, 0), **unknown}  # chosen ones stay, to be changed
    for word, count in sorted(asked.items(), key=lambda item: -item[1]):
        label = _("{word!r} ({n} rows) means") if count else _("{word!r} means")
        picked = st.selectbox(
            label.format(word=word, n=count),
            ["", *names],
            format_func=lambda c: names.get(c, _("(choose a category)")),
            key=f"word-{word}",
        )
        if picked:
            words[word] = picked
        else:  # set back to "choose": the word is unknown again
            words.pop(word, None)
    st.checkbox(_("Remember these words for later imports"), value=True, key="remember-words")
    return choices if words == choices.words else ImportChoices(choices.columns, words)


def _show_rejects(preview: ImportResult, shown: int = 50) -> None:
    """Every problem (the first ``shown`` on the page, all in the report), in this language."""
    if not preview.problems:
        return
    rows = [
        {"row": r.row, "field": _(COLUMN_LABELS.get(r.field, r.field)),
         "reason": as_message(r.reason).text(_)}
        for r in preview.rejects
    ]  # fmt: skip
    st.table(labelled(rows[:shown]))  # text, not a canvas: read aloud, found, copied
    if preview.problems > shown:
        st.caption(_("{n} more in the rejects report").format(n=len(rows) - shown))
    st.download_button(
        _("Download the rejects report"),
        rejects_csv(preview.rejects, _),
        file_name="rejects.csv",
        mime="text/csv",
    )


def was_it_on_camera(
    svc: Services, incident: dict[str, Any], cameras: list[Camera], actor: str
) -> None:
    """The cameras (of this account's) whose view covers the incident's spot: their state at
    its time and their stored picture nearest it, best first; and the evidence ZIP (audited)."""
    found = incident_witnesses(svc, incident, cameras)
    st.markdown("**" + _("Was it on camera?") + "**")
    if not found:
        st.caption(_("No camera's field of view covers this spot."))
        return
    when = incident["occurred_at"]
    rows = [
        {
            "camera": w.camera.props.name,
            "distance_m": w.distance_m,
            "state_at_time": _(STATE_AT.get(w.state) or error_label(w.state)),
            "picture_at": local_time(w.picture_at) if w.picture_at else _("no picture kept"),
            "gap": _age_words(w.gap_s(when)),
            "note": _("PTZ: may have pointed elsewhere") if w.pointing_unknown else "",
        }
        for w in found
    ]
    st.dataframe(labelled(rows), hide_index=True, width="stretch", key="witnesses")
    shown = [w for w in found if w.picture is not None][:4]
    for column, w in zip(st.columns(max(1, len(shown))), shown, strict=False):
        assert w.picture is not None and w.picture_at is not None
        try:
            column.image(w.picture.read_bytes(), caption=_("{camera} at {when}").format(
                camera=w.camera.props.name, when=local_time(w.picture_at)))  # fmt: skip
        except OSError:  # pruned since it was listed
            column.caption(_("{camera}: picture no longer kept").format(camera=w.camera.props.name))

    def build() -> bytes:
        svc.audit(actor, "evidence_export", {"incident": incident["id"],
                                             "cameras": [w.camera.id for w in found]})  # fmt: skip
        agencies = {a.id: a.name for a in svc.settings.agencies}
        return evidence_zip(incident, found, agencies, actor, datetime.now(UTC))

    st.download_button(
        _("Export the evidence (ZIP with SHA-256 of each picture)"),
        build,
        file_name=f"incident-{incident['id']}-evidence.zip",
        mime="application/zip",
        key="evidence-export",
    )


STATE_AT = {"online": N_("online"), "dark": N_("dark"), "frozen": N_("frozen"),
            "unknown": N_("unknown: no poll then")}  # fmt: skip


def _age_words(seconds: float | None) -> str:
    """How far a picture is from the incident's time, in words."""
    if seconds is None:
        return ""
    if seconds < 90:
        return _("{n} s from the incident").format(n=round(seconds))
    if seconds < 90 * 60:
        return _("{n} min from the incident").format(n=round(seconds / 60))
    return _("{n} h from the incident").format(n=round(seconds / 3600))


def maintenance_panel(svc: Services, session: Session, cameras: list[Camera]) -> None:
    """Maintenance windows (now, ahead, last week), and for operators and admins a form to
    put a camera or an agency in maintenance and a button to end a window; all audited."""
    st.markdown("**" + _("Maintenance") + "**")
    st.caption(_("Time in maintenance counts neither as up nor as down and raises no alert."))
    rows = maintenance_rows(svc, cameras)
    if rows:
        st.dataframe(labelled(rows), hide_index=True, width="stretch", key="maintenance")
    else:
        st.caption(_("None."))
    db = svc.ledger_db()
    if session.role not in ("operator", "admin") or db is None:
        return
    names = {c.id: c.props.name for c in cameras}
    agencies = {a.id: a.name for a in svc.settings.agencies
                if any(c.props.owner == a.id for c in cameras)}  # fmt: skip
    targets: dict[str, str] = {**{f"camera:{k}": v for k, v in names.items()},
               **{f"agency:{k}": _("all cameras of {agency}").format(agency=v)
                  for k, v in agencies.items()}}  # fmt: skip
    with st.form("maintenance-form", clear_on_submit=True):
        target = st.selectbox(_("Camera or agency"), list(targets), format_func=targets.__getitem__)
        hours = st.number_input(_("For how many hours"), 0.5, 24.0 * 30, 4.0, step=0.5)
        reason = st.text_input(_("Reason"), max_chars=500)
        if st.form_submit_button(_("Put in maintenance")):
            kind, _sep, ident = str(target).partition(":")
            now = datetime.now(UTC)
            try:
                made = maintenance.add(db, ident if kind == "camera" else None,
                                       ident if kind == "agency" else None, now,
                                       now + timedelta(hours=float(hours)), reason, session.user,
                                       now)  # fmt: skip
            except maintenance.MaintenanceError as exc:
                st.error(str(exc))
            else:
                svc.audit(session.user, "maintenance_started", {"id": made, "target": target,
                          "hours": hours, "reason": reason})  # fmt: skip
                st.rerun()
    ongoing = [r for r in rows if r["ongoing"]]
    if ongoing:
        shown = {r["id"]: f"#{r['id']} {r['target']}" for r in ongoing}
        ending = st.selectbox(_("End a window now"), list(shown), format_func=shown.__getitem__)
        if st.button(_("End it"), key="maintenance-end"):
            maintenance.end(db, int(ending), datetime.now(UTC))
            svc.audit(session.user, "maintenance_ended", {"id": ending})
            st.rerun()


def place_filter(svc: Services) -> tuple[str, tuple[str, ...]]:
    """The level the analytics count by (the districts, or the city's finer level once its
    boundaries are installed) and the places picked at it (none: all)."""
    city = svc.settings.city
    levels = {"kecamatan": city.district_label}
    if city.sublevel is not None:
        levels["kelurahan"] = city.sublevel.label
    level = "kecamatan"
    if len(levels) > 1:
        level = st.radio(
            _("Count by"), list(levels), format_func=lambda k: _(levels[k]), horizontal=True
        )
    layer = level_layer(svc, level)
    if level == "kelurahan" and not layer.districts:
        st.info(
            _("{label} boundaries are not installed yet, so nothing is counted by {label}; "
              "an administrator installs the official file with import-districts --level "
              "{level}.").format(label=_(levels[level]), level=city.sublevel.id if city.sublevel
                                 else level)
        )  # fmt: skip
        return "kecamatan", ()
    waiting = svc.places_waiting if level == "kelurahan" else None
    if waiting:
        st.caption(
            _("{n} older incidents are still being given their {label}; they count once done.")
            .format(n=waiting, label=_(levels[level]))
        )  # fmt: skip
    names = sorted(d.name for d in layer.districts)
    picked = multiselect(_(levels[level]).capitalize(), names)
    return level, tuple(picked)


def incident_export(store: IncidentStore, filters: Filters, actor: str, scope: CameraScope) -> None:
    """Download the filtered incidents; each file is built (and audited) only when clicked.
    ``scope``: what this account may know of cameras (another agency's internal camera is
    neither named nor measured in the file)."""

    def builder(fmt: str) -> Callable[[], bytes]:
        def build() -> bytes:
            services().audit(actor, "incident_export", {"format": fmt})
            return export_incidents(store, filters, fmt, scope)

        return build

    formats = tuple(EXPORT_FORMATS.items())
    for column, (fmt, mime) in zip(st.columns(len(formats)), formats, strict=True):
        column.download_button(
            _("Export {format}").format(format=fmt.upper()),
            builder(fmt),
            file_name=f"incidents.{fmt}",
            mime=mime,
            key=f"export-{fmt}",
        )


def incident_place_picker(svc: Services, cameras: list[Camera]) -> None:
    """A map to click where a new incident is; the choice goes to the form's coordinates."""
    with st.expander(_("New incident: click the map, or pick a site, a camera or coordinates")):
        clicked = st.pydeck_chart(
            pick_deck(svc, st.session_state.get("picked_cell"), cameras, tr()),
            on_select="rerun",
            selection_mode="single-object",
            key="pick-map",
            height=360,
        )
        chosen = clicked.selection.objects.get("pick-grid") or []
        if chosen and chosen[0]["hex"] != st.session_state.get("picked_cell"):
            st.session_state.picked_cell = chosen[0]["hex"]
            st.session_state["incident-where"] = "coordinates"
        cell = st.session_state.get("picked_cell")
        if cell:
            lat, lon = cell_centre(cell)
            st.caption(_("Picked on the map: {lat:.5f}, {lon:.5f}").format(lat=lat, lon=lon))


def incident_form(svc: Services, store: IncidentStore, actor: str, cameras: list[Camera]) -> None:
    """Log a new incident: only the fields for the chosen 'where'; the form clears once the
    incident is logged; a likely second report of the same thing asks first."""
    settings = svc.settings
    state = st.session_state
    categories = {c.id: c for c in settings.incident_categories}
    category_names = settings.category_names(tr().lang)
    sites = {s.id: s for s in settings.city.sites}
    by_id = {c.id: c for c in cameras}
    agencies = {a.id: a.name for a in settings.agencies}
    labels = {"site": _("Site"), "camera": _("Camera"), "coordinates": _("Coordinates")}
    where = st.radio(
        _("Where"), list(labels), format_func=labels.__getitem__, horizontal=True,
        key="incident-where",
    )  # fmt: skip

    def log(item: NewIncident) -> None:
        new_id = store.create(item, actor)
        state.incident = new_id
        state.pop("picked_cell", None)
        svc.audit(actor, "incident_created", {"id": new_id, "category": item.category})
        state["incident-logged"] = _("Incident {id} logged; lead agency: {agency}.").format(
            id=new_id, agency=agencies[categories[item.category].lead]
        )
        state["incident-form"] = state.get("incident-form", 0) + 1  # a new, empty form
        st.rerun()

    logged = state.pop("incident-logged", None)
    if logged:
        st.success(logged)
    with st.form(f"new-incident-{state.get('incident-form', 0)}", clear_on_submit=True):
        category = st.selectbox(
            _("Category"), list(categories), format_func=category_names.__getitem__
        )
        st.caption(_("The lead agency follows the category (it can be changed after)."))
        priority = st.radio(_("Priority"), PRIORITIES, index=1, horizontal=True)
        if where == "site":
            site = sites[st.selectbox(_("Site"), list(sites), format_func=lambda s: sites[s].name)]
            lat, lon = site.point.lat, site.point.lon
        elif where == "camera" and by_id:
            chosen = st.selectbox(
                _("Camera"), list(by_id), format_func=lambda c: by_id[c].props.name
            )
            lat, lon = by_id[chosen].lat, by_id[chosen].lon
        else:
            cell = state.get("picked_cell")
            start = cell_centre(cell) if cell else (settings.city.centre.lat,
                                                    settings.city.centre.lon)  # fmt: skip
            lat = st.number_input(_("Latitude"), value=start[0], format="%.5f")
            lon = st.number_input(_("Longitude"), value=start[1], format="%.5f")
        description = st.text_area(_("Description"))
        submitted = st.form_submit_button(_("Log incident"), type="primary")
    if submitted:
        item = NewIncident(datetime.now(UTC), category, priority, lat, lon,
                           description=description)  # fmt: skip
        try:
            store.validate(item)
        except IncidentError as error:
            st.error(str(error))
            return
        duplicates = store.likely_duplicates(item)
        if duplicates:
            state["incident-pending"] = (item, duplicates)
        else:
            log(item)
    pending = state.get("incident-pending")
    if pending:
        item, duplicates = pending
        first = duplicates[0]
        st.warning(
            _(
                "Likely already logged: incident {id} ({category}, {metres} m away, {when}). "
                "Log this one too?"
            ).format(
                id=first["id"],
                category=category_names[item.category],
                metres=first["metres"],
                when=tr().when(first["occurred_at"]),
            ),
            icon=":material/content_copy:",
        )
        yes, no = st.columns(2)
        if yes.button(_("Log it anyway"), key="log-duplicate"):
            state.pop("incident-pending")
            log(item)
        if no.button(_("Do not log it"), key="drop-duplicate"):
            state.pop("incident-pending")
            state.incident = first["id"]
            st.rerun()


def brief_sections(svc: Services, brief: Brief, cameras: list[Camera], actor: str) -> None:
    """The brief below its numbers: agencies, P1s, outages, map, strategic sites, download."""
    t = tr()

    def daily_brief() -> bytes:
        svc.audit(actor, "brief_export", {"format": "png", "language": t.lang})
        return daily_brief_png(svc, brief, t)

    if brief.p1_open:
        st.markdown("**" + _("Open P1 incidents") + "**")
        for row in brief.p1_open:
            st.markdown(
                f"- #{row['id']} **{row['category']}** · {row['kecamatan']} · "
                f"{_(row['status'])} · {t.when(row['reported_at'])}"
            )
    st.markdown("**" + _("Camera outages now") + "**")
    if brief.outages:
        for tile in brief.outages:
            name = html.escape(tile.name)
            st.markdown(f"{state_badge(tile.state)} {name}", unsafe_allow_html=True)
    else:
        st.caption(_("None."))
    st.markdown("**" + _("Cameras online by agency") + "**")
    for agency in brief.by_agency:
        st.progress(
            agency.pct / 100,
            text=f"{agency.agency}: {agency.online}/{agency.total} ({t.number(agency.pct)} %)",
        )
    health = {tile.camera_id: tile for tile in brief.tiles}
    st.pydeck_chart(
        brief_deck(svc.settings, svc.snapshot(), cameras, health, t), height=260, key="brief-map"
    )
    st.markdown("**" + _("Strategic sites") + "**")
    cells = "".join(
        f"<figure style='margin:0'><img src='/api/cameras/{tile.camera_id}/thumb.jpg' "
        f"loading='lazy' alt='' style='width:100%;border-radius:4px;background:#ddd;"
        f"aspect-ratio:16/9;object-fit:cover'><figcaption style='font-size:.8em'>"
        f"{html.escape(tile.name)}<br>{state_label(tile.state, t)} · "
        f"{html.escape(tile.picture_text(t))}</figcaption></figure>"
        for tile in brief.strategic
    )
    st.markdown(
        f"<div style='display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));"
        f"gap:8px'>{cells}</div>",
        unsafe_allow_html=True,
    )
    st.download_button(
        _("Daily brief (PNG)"),
        daily_brief,
        file_name=f"brief-{brief.at.astimezone(ZoneInfo(t.timezone)):%Y-%m-%d}.png",
        mime="image/png",
        key="brief-png",
    )
