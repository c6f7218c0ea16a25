"""Shared UI helpers for the pages (the only UI module besides the page scripts)."""

from __future__ import annotations

import functools
import html
import json
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from lawangjabo.alerts.engine import Alert, render
from lawangjabo.auth.access import COOKIE, HOME_PAGE, PAGES, Session
from lawangjabo.cameras import maintenance
from lawangjabo.cameras.capture import error_label
from lawangjabo.cameras.registry import Camera
from lawangjabo.i18n import LANGUAGES, N_, SOURCE_LANGUAGE, Translator
from lawangjabo.incidents.scope import CameraScope
from lawangjabo.labels import COLUMN_LABELS
from lawangjabo.server.services import Services, Snapshot, get_services
from lawangjabo.views.brief import Brief, visible_alerts
from lawangjabo.views.briefimage import daily_brief_png
from lawangjabo.views.healthview import STATE_COLOURS, Tile, maintenance_rows, state_label
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
/* The operations map (our component, assets/opsmap.css) sizes itself to the window; on a phone
   the chosen camera's picture opens in the map's own sheet, its details below the map. */
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-left: .5rem; padding-right: .5rem; }
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
        state_badge(s)
        for s in ("online", "stale", "frozen", "dark", "tampered", "offline", "pending")
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
