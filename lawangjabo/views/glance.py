"""The leaders' brief as one server-rendered page: the same numbers as the brief, for a phone.

Streamlit's frontend is 1.3 MB of scripts before the first number; on a slow mobile link that
is many seconds of nothing. This page is plain HTML with inline styles, no script at all (the
policy forbids them): the numbers arrive with the first response, the map is a small PNG drawn
on the server, the site thumbnails load lazily, and the page refreshes itself every minute.
"""

from __future__ import annotations

import html
from typing import Any

from lawangjabo.alerts.engine import render
from lawangjabo.auth.access import GLANCE_PATH
from lawangjabo.i18n import LANGUAGES, N_, Translator
from lawangjabo.views.brief import Brief
from lawangjabo.views.healthview import STATE_COLOURS, Tile, state_label

REFRESH_S = 60
TITLE = N_("Brief · {city}")

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,
sans-serif;color:#1e1e1e;background:#f4f5f7}main{max-width:720px;margin:0 auto;padding:10px}
h1{font-size:1.15em;margin:.2em 0}h2{font-size:1em;margin:1.1em 0 .4em}small,.muted{color:#666}
.top{display:flex;justify-content:space-between;align-items:baseline;gap:8px}
.banner{border-radius:6px;padding:6px 10px;margin:6px 0;font-weight:600}
.sim{background:#d62828;color:#fff}.bad{background:#fde7e7;color:#9b1c1c}
.kpis{display:grid;grid-template-columns:repeat(3,1fr);gap:6px}
.kpi{background:#fff;border-radius:8px;padding:8px;box-shadow:0 1px 2px #0002}
.kpi b{display:block;font-size:1.7em;line-height:1.2}.kpi.alarm b{color:#c8102e}
.kpi span{font-size:.8em;color:#555}ul{margin:0;padding-left:1.1em}li{margin:.15em 0}
.badge{color:#fff;border-radius:4px;padding:0 5px;font-size:.75em;white-space:nowrap}
.map{width:100%;height:auto;border-radius:8px;background:#e8e8e3;display:block}
.bar{background:#e3e3e3;border-radius:4px;height:8px;margin:2px 0 8px}
.bar i{display:block;height:8px;border-radius:4px;background:#1a9641}
.sites{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px}
.sites img{width:100%;aspect-ratio:16/9;object-fit:cover;border-radius:4px;background:#ddd}
figure{margin:0}figcaption{font-size:.8em}a{color:#0b57d0}
footer{margin:1.5em 0;font-size:.85em}
"""


def _badge(state: str, t: Translator) -> str:
    r, g, b = STATE_COLOURS[state]
    return f"<span class='badge' style='background:rgb({r},{g},{b})'>{state_label(state, t)}</span>"


def _e(text: object) -> str:
    return html.escape(str(text))


def render_glance(
    brief: Brief,
    t: Translator,
    city: str,
    simulated: bool,
    poller: dict[str, Any],
    user: str,
) -> str:
    """The whole page as HTML (every value from files or accounts is escaped)."""
    _ = t.gettext
    # Every string is translated here, outside the f-strings below: the catalog's extractor
    # does not look inside f-string expressions.
    title = _(TITLE).format(city=city)
    as_of = _("As of {when}").format(when=t.when(brief.at))
    simulated_text = _("SIMULATED FEEDS · demo data, not real cameras")
    p1_title, outages_title = _("Open P1 incidents"), _("Camera outages now")
    agencies_title, sites_title = _("Cameras online by agency"), _("Strategic sites")
    none = _("None.")
    links = (_("Daily brief (PNG)"), _("Open the full app"), _("Sign out"))
    signed_in = _("Signed in as {user}").format(user=user)
    refreshes = _("This page refreshes itself every minute.")
    parts: list[str] = []
    other = "en" if t.lang == "id" else "id"
    parts.append(
        f"<div class='top'><h1>{_e(title)}</h1>"
        f"<a href='{GLANCE_PATH}?lang={other}'>{_e(LANGUAGES[other])}</a></div>"
        f"<div class='muted'>{_e(as_of)}</div>"
    )
    if simulated:
        parts.append(f"<div class='banner sim'>{_e(simulated_text)}</div>")
    if poller.get("mode") != "off" and not poller.get("alive"):
        since = (
            _("never reported")
            if poller.get("age_s") is None
            else _("last heard {age}").format(age=t.age(poller["age_s"]))
        )
        text = _("Camera poller not running · {since}").format(since=since)
        parts.append(f"<div class='banner bad'>{_e(text)}</div>")
    p1 = brief.open_by_priority["P1"]
    kpis = (
        ("", _("Cameras online"), f"{t.number(brief.online_pct)} %",
         _("{online} of {total}").format(online=brief.online, total=brief.total)),
        ("alarm" if p1 else "", p1_title, str(p1),
         _("P2 {p2} · P3 {p3}").format(p2=brief.open_by_priority["P2"],
                                       p3=brief.open_by_priority["P3"])),
        ("", _("Incidents today"), str(brief.today),
         _("usual for a {weekday}: {usual}").format(
             weekday=t.weekday(brief.at), usual=t.number(brief.usual_today, 1))),
    )  # fmt: skip
    parts.append(
        "<section class='kpis' id='kpis'>"
        + "".join(
            f"<div class='kpi {cls}'><span>{_e(label)}</span><b>{_e(value)}</b>"
            f"<span>{_e(note)}</span></div>"
            for cls, label, value, note in kpis
        )
        + "</section>"
    )
    pending = [a for a in brief.alerts if a.acked_by is None]
    if pending:
        heading = _("{n} alert(s) not acknowledged").format(n=len(pending))
        items = "".join(f"<li>{_e(render(a.rule, a.params, t))}</li>" for a in pending[:5])
        parts.append(f"<h2>{_e(heading)}</h2><ul>{items}</ul>")
    parts.append(f"<h2>{_e(p1_title)}</h2>")
    if brief.p1_open:
        rows = [(row, _(row["status"]), t.when(row["reported_at"])) for row in brief.p1_open]
        parts.append(
            "<ul>"
            + "".join(
                f"<li>#{_e(row['id'])} <b>{_e(row['category'])}</b> · {_e(row['kecamatan'])} "
                f"· {_e(status)} · {_e(when)}</li>"
                for row, status, when in rows
            )
            + "</ul>"
        )
    else:
        parts.append(f"<p class='muted'>{_e(none)}</p>")
    parts.append(f"<h2>{_e(outages_title)}</h2>")
    parts.append(_outages(brief.outages, t, none))
    parts.append(
        f"<img class='map' src='{GLANCE_PATH}/map.png' width='720' height='480' "
        f"alt='{_e(agencies_title)}'>"
    )
    parts.append(f"<h2>{_e(agencies_title)}</h2>")
    for agency in brief.by_agency:
        parts.append(
            f"<div>{_e(agency.agency)}: {agency.online}/{agency.total} "
            f"({_e(t.number(agency.pct))} %)</div>"
            f"<div class='bar'><i style='width:{agency.pct:.0f}%'></i></div>"
        )
    parts.append(f"<h2>{_e(sites_title)}</h2><div class='sites'>")
    for tile in brief.strategic:
        parts.append(
            f"<figure><img src='/api/cameras/{_e(tile.camera_id)}/thumb.jpg' loading='lazy' "
            f"alt=''><figcaption>{_e(tile.name)}<br>{_badge(tile.state, t)} "
            f"{_e(tile.picture_text(t))}</figcaption></figure>"
        )
    parts.append("</div>")
    parts.append(
        f"<footer><a href='{GLANCE_PATH}/daily.png'>{_e(links[0])}</a> · "
        f"<a href='/brief'>{_e(links[1])}</a> · <a href='/logout'>{_e(links[2])}</a><br>"
        f"<span class='muted'>{_e(signed_in)} · {_e(refreshes)}</span></footer>"
    )
    body = "".join(parts)
    return (
        f"<!doctype html><html lang='{t.lang}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        # its own refresh is marked, so an unattended phone does not keep the session alive
        f"<meta http-equiv='refresh' content='{REFRESH_S};url={GLANCE_PATH}?auto=1&amp;"
        f"lang={t.lang}'>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _outages(outages: list[Tile], t: Translator, none: str) -> str:
    if not outages:
        return f"<p class='muted'>{_e(none)}</p>"
    return (
        "<ul>"
        + "".join(
            f"<li>{_badge(tile.state, t)} {_e(tile.name)} · {_e(tile.picture_text(t))}</li>"
            for tile in outages
        )
        + "</ul>"
    )
