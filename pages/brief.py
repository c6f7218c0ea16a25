"""Leaders' brief (phone first): what is happening, what is broken, at one glance."""

import streamlit as st

import uikit
from lawangjabo.views.brief import build_brief
from uikit import _

session = uikit.require_page("brief")
svc = uikit.services()
t = uikit.tr()
cameras = uikit.visible_cameras(session)
brief = build_brief(svc, cameras, session.agencies, lang=uikit.tr().lang)

st.subheader(_("Brief · {city}").format(city=svc.settings.city.name))
st.caption(_("As of {when}").format(when=t.when(brief.at)))
uikit.alerts_banner(brief.alerts, shown=5)
with st.container(key="brief-kpis"):
    first, second, third = st.columns(3)
    first.metric(
        _("Cameras online"),
        f"{t.number(brief.online_pct)} %",
        _("{online} of {total}").format(online=brief.online, total=brief.total),
        delta_color="off",
        delta_arrow="off",
    )
    second.metric(
        _("Open P1 incidents"),
        brief.open_by_priority["P1"],
        _("P2 {p2} · P3 {p3}").format(
            p2=brief.open_by_priority["P2"], p3=brief.open_by_priority["P3"]
        ),
        delta_color="off",
        delta_arrow="off",
    )
    third.metric(
        _("Incidents today"),
        brief.today,
        _("usual for a {weekday}: {usual}").format(
            weekday=t.weekday(brief.at), usual=t.number(brief.usual_today, 1)
        ),
        delta_color="off",
        delta_arrow="off",
    )
uikit.brief_sections(svc, brief, cameras, session.user)
