"""Camera health: uptime by agency and kecamatan, current and longest outages, a timeline."""

from datetime import UTC, datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

import uikit
from lawangjabo.healthview import outage_rows, state_counts, tiles, uptime_tables

session = uikit.require_page("health")
svc = uikit.services()
settings = svc.settings
st.subheader("Camera health")
uikit.status_banners(svc)

cameras = uikit.visible_cameras(session)
now_tiles = tiles(svc, cameras)
counts = state_counts(now_tiles)
columns = st.columns(max(1, len(counts)))
for column, (name, count) in zip(columns, counts.items(), strict=True):
    column.markdown(uikit.state_badge(name), unsafe_allow_html=True)
    column.metric(name, count, label_visibility="collapsed")

window_label = st.radio("Window", ["24 h", "7 d"], horizontal=True)
window = timedelta(hours=24) if window_label == "24 h" else timedelta(days=7)
tables = uptime_tables(svc, window, cameras)
left, right = st.columns(2)
with left:
    st.markdown("**Uptime by agency**")
    st.dataframe(tables["agency"], hide_index=True, width="stretch")
with right:
    st.markdown(f"**Uptime by {settings.city.district_label}**")
    st.dataframe(tables["kecamatan"], hide_index=True, width="stretch")
st.markdown("**Uptime by camera** (a good, changing, non-dark picture counts as up)")
st.dataframe(tables["camera"], hide_index=True, width="stretch")

rows = outage_rows(svc, window, cameras)
st.markdown("**Current outages**")
current = [r for r in rows if r["ongoing"]]
if current:
    st.dataframe(current, hide_index=True, width="stretch")
else:
    st.caption("None.")
st.markdown("**Longest outages**")
st.dataframe(sorted(rows, key=lambda r: -r["minutes"])[:10], hide_index=True, width="stretch")

if rows:
    st.markdown("**Timeline of outages**")
    end = datetime.now(UTC)
    frame = pd.DataFrame([{**r, "to": r["to"] or end} for r in rows])
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("from:T", title=None),
            x2="to:T",
            y=alt.Y("camera:N", title=None),
            color=alt.Color("reason:N"),
            tooltip=["camera", "reason", "minutes", "from", "to"],
        )
    )
    st.altair_chart(chart, width="stretch")
