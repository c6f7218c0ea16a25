"""Analytics (planners): where and when incidents cluster, district trends, where cameras miss."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import streamlit as st

import uikit
import uikit_incidents
from lawangjabo.incidents.analytics import Filters
from lawangjabo.views.incidentview import WEEKDAYS, matrix_rows, planner_view
from uikit import _

session = uikit.require_page("analytics")
svc = uikit.services()
settings = svc.settings
st.subheader(_("Incident analytics"))
if svc.incidents() is None:
    st.error(_("The incident database is unavailable."))
    st.stop()
categories = settings.category_names(uikit.tr().lang)
agencies = {a.id: a.name for a in settings.agencies}
city_tz = ZoneInfo(settings.city.timezone)  # a planner's days are WIB days
today = datetime.now(city_tz).date()
with st.sidebar:
    period = st.date_input(
        _("Period"), value=(today - timedelta(days=90), today), format="DD/MM/YYYY"
    )
    chosen = uikit.multiselect(
        _("Category"), list(categories), format_func=lambda c: categories[c], key="categories"
    )
    lead = uikit.multiselect(_("Lead agency"), list(agencies), format_func=lambda a: agencies[a])
    priority = uikit.multiselect(_("Priority"), ["P1", "P2", "P3"])
    status = uikit.multiselect(
        _("Status"),
        ["new", "dispatched", "on_scene", "resolved", "closed", "false_alarm", "hoax"],
        format_func=_,
    )
    resolution = st.select_slider(_("Cell size (H3)"), [7, 8, 9], value=8)
    playback = st.toggle(_("Play back by hour of day"))
    hour = st.slider(_("Hour (WIB)"), 0, 23, 8, disabled=not playback)
    by_day = st.toggle(_("Play back by day of the week"))
    weekday = st.select_slider(_("Day"), list(WEEKDAYS), format_func=_, disabled=not by_day)
    level, places = uikit_incidents.place_filter(svc)
    mode = st.radio(_("Map"), ["hexagons", "per km²"], horizontal=True, format_func=_)
    near_m = st.slider(_("Near a camera (m)"), 25, 500, 100, step=25)
start, end = (
    (period[0], period[1]) if isinstance(period, tuple) and len(period) == 2 else (today, today)
)
filters = Filters(
    datetime.combine(start, time(), city_tz),
    datetime.combine(end, time(), city_tz) + timedelta(days=1),
    tuple(chosen),
    tuple(lead),
    tuple(priority),
    tuple(status),
    hours=(hour,) if playback else (),
    weekdays=(WEEKDAYS.index(weekday),) if by_day else (),
    places=places,
    level=level,
)
view = planner_view(
    svc, filters, resolution, mode, near_m, suggestions=5,
    cameras=uikit.visible_cameras(session), translator=uikit.tr(),
)  # fmt: skip

a, b, c = st.columns(3)
a.metric(
    _("Incidents"),
    view.total,
    view.total - view.previous_total,
    delta_color="inverse",
    help=_("change against the equally long period before"),
)
b.metric(
    _("Seen by no camera"),
    f"{100 * view.coverage.blind_share:.0f} %",
    help=_("outside every field of view and farther than {m} m from any camera").format(m=near_m),
)
c.metric(_("Inside a camera's view"), view.coverage.in_view)
st.pydeck_chart(view.deck, key="analytics-map", height=520)
st.caption(
    _(
        "{n} cells sent to the browser (aggregated in DuckDB); blue dots: "
        "suggested new camera sites."
    ).format(n=len(view.cells))
)

left, right = st.columns(2)
with left:
    st.markdown(_("**Hour × weekday** (WIB)"))
    cells = pd.DataFrame(matrix_rows(view.matrix))
    matrix = alt.Chart(cells.assign(weekday=cells["weekday"].map(_))).mark_rect()
    uikit.chart(
        matrix.encode(
            x=alt.X("hour:O", title=_("hour")),
            y=alt.Y("weekday:N", sort=None, title=_("day")),
            color=alt.Color("count:Q", title=_("count")),
        )
    )
with right:
    st.markdown(_("**Per day**"))
    trend = alt.Chart(pd.DataFrame(view.days)).mark_line()
    uikit.chart(
        trend.encode(x=alt.X("day:T", title=_("day")), y=alt.Y("count:Q", title=_("count")))
    )
sub = settings.city.sublevel
shown_level = sub.label if level == "kelurahan" and sub else settings.city.district_label
st.markdown(_("**By {label}** (change against the previous period)").format(label=_(shown_level)))
st.dataframe(uikit.labelled(view.districts), hide_index=True, width="stretch")
st.markdown(_("**Top hotspots** (H3 resolution 9, ~0.1 km²)"))
st.dataframe(uikit.labelled(view.hotspots), hide_index=True, width="stretch")
st.markdown(
    _(
        "**Where one new camera would cover the most unseen incidents** (greedy, "
        "{m:.0f} m around a 360° camera)"
    ).format(m=settings.incidents.coverage_radius_m)
)
st.dataframe(uikit.labelled(view.suggestions), hide_index=True, width="stretch")
