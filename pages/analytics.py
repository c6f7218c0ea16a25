"""Analytics (planners): where and when incidents cluster, district trends, where cameras miss."""

from datetime import UTC, datetime, time, timedelta

import altair as alt
import pandas as pd
import streamlit as st

import uikit
from lawangjabo.analytics import Filters
from lawangjabo.incidentview import WEEKDAYS, matrix_rows, planner_view

session = uikit.require_page("analytics")
svc = uikit.services()
settings = svc.settings
st.subheader("Incident analytics")
if svc.incidents() is None:
    st.error("The incident database is unavailable.")
    st.stop()
categories = {c.id: c.name for c in settings.incident_categories}
agencies = {a.id: a.name for a in settings.agencies}
today = datetime.now(UTC).date()
with st.sidebar:
    period = st.date_input("Period", value=(today - timedelta(days=90), today))
    chosen = st.multiselect(
        "Category", list(categories), format_func=lambda c: categories[c], key="categories"
    )
    lead = st.multiselect("Lead agency", list(agencies), format_func=lambda a: agencies[a])
    priority = st.multiselect("Priority", ["P1", "P2", "P3"])
    status = st.multiselect(
        "Status", ["new", "dispatched", "on_scene", "resolved", "closed", "false_alarm", "hoax"]
    )
    resolution = st.select_slider("Cell size (H3)", [7, 8, 9], value=8)
    playback = st.toggle("Play back by hour of day")
    hour = st.slider("Hour (WIB)", 0, 23, 8, disabled=not playback)
    by_day = st.toggle("Play back by day of the week")
    weekday = st.select_slider("Day", list(WEEKDAYS), disabled=not by_day)
    mode = st.radio("Map", ["hexagons", "per km²"], horizontal=True)
    near_m = st.slider("Near a camera (m)", 25, 500, 100, step=25)
start, end = (
    (period[0], period[1]) if isinstance(period, tuple) and len(period) == 2 else (today, today)
)
filters = Filters(
    datetime.combine(start, time(), UTC),
    datetime.combine(end, time(), UTC) + timedelta(days=1),
    tuple(chosen),
    tuple(lead),
    tuple(priority),
    tuple(status),
    hours=(hour,) if playback else (),
    weekdays=(WEEKDAYS.index(weekday),) if by_day else (),
)
view = planner_view(svc, filters, resolution, mode, near_m, suggestions=5)

a, b, c = st.columns(3)
a.metric(
    "Incidents",
    view.total,
    view.total - view.previous_total,
    delta_color="inverse",
    help="change against the equally long period before",
)
b.metric(
    "Seen by no camera",
    f"{100 * view.coverage.blind_share:.0f} %",
    help=f"outside every field of view and farther than {near_m} m from any camera",
)
c.metric("Inside a camera's view", view.coverage.in_view)
st.pydeck_chart(view.deck, key="analytics-map", height=520)
st.caption(
    f"{len(view.cells)} cells sent to the browser (aggregated in DuckDB); blue dots: "
    "suggested new camera sites."
)

left, right = st.columns(2)
with left:
    st.markdown("**Hour × weekday** (WIB)")
    matrix = alt.Chart(pd.DataFrame(matrix_rows(view.matrix))).mark_rect()
    st.altair_chart(
        matrix.encode(x="hour:O", y=alt.Y("weekday:N", sort=None), color="count:Q"),
        width="stretch",
    )
with right:
    st.markdown("**Per day**")
    trend = alt.Chart(pd.DataFrame(view.days)).mark_line()
    st.altair_chart(trend.encode(x="day:T", y="count:Q"), width="stretch")
st.markdown(f"**By {settings.city.district_label}** (change against the previous period)")
st.dataframe(view.districts, hide_index=True, width="stretch")
st.markdown("**Top hotspots** (H3 resolution 9, ~0.1 km²)")
st.dataframe(view.hotspots, hide_index=True, width="stretch")
st.markdown(
    "**Where one new camera would cover the most unseen incidents** (greedy, "
    f"{settings.incidents.coverage_radius_m:.0f} m around a 360° camera)"
)
st.dataframe(view.suggestions, hide_index=True, width="stretch")
