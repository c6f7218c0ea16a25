"""Camera health: uptime by agency and kecamatan, current and longest outages, a timeline."""

from datetime import UTC, datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

import uikit
from lawangjabo.views.healthview import (
    LedgerUnavailableError,
    outage_rows,
    state_counts,
    state_label,
    tiles,
    uptime_tables,
)
from uikit import _

session = uikit.require_page("health")
svc = uikit.services()
settings = svc.settings
st.subheader(_("Camera health"))

cameras = uikit.visible_cameras(session)
now_tiles = tiles(svc, cameras)
counts = state_counts(now_tiles)
columns = st.columns(max(1, len(counts)))
for column, (name, count) in zip(columns, counts.items(), strict=True):
    column.markdown(uikit.state_badge(name), unsafe_allow_html=True)
    column.metric(state_label(name, uikit.tr()), count, label_visibility="collapsed")

hours = st.radio(
    _("Window"),
    [24, 168],
    horizontal=True,
    format_func=lambda h: _("{n} h").format(n=h) if h < 48 else _("{n} d").format(n=h // 24),
)
window = timedelta(hours=hours)
try:
    tables, rows = uptime_tables(svc, window, cameras), outage_rows(svc, window, cameras)
except LedgerUnavailableError:
    st.warning(_("Uptime and outages cannot be read now: the central database is unreachable."))
    st.stop()
left, right = st.columns(2)
with left:
    st.markdown("**" + _("Uptime by agency") + "**")
    st.dataframe(uikit.labelled(tables["agency"]), hide_index=True, width="stretch")
with right:
    st.markdown("**" + _("Uptime by {label}").format(label=settings.city.district_label) + "**")
    st.dataframe(uikit.labelled(tables["kecamatan"]), hide_index=True, width="stretch")
st.markdown(_("**Uptime by camera** (a good, changing, non-dark picture counts as up)"))
st.dataframe(uikit.labelled(tables["camera"]), hide_index=True, width="stretch")

st.markdown("**" + _("Current outages") + "**")
current = [r for r in rows if r["ongoing"]]
if current:
    st.dataframe(uikit.labelled(current), hide_index=True, width="stretch")
else:
    st.caption(_("None."))
st.markdown("**" + _("Longest outages") + "**")
st.dataframe(
    uikit.labelled(sorted(rows, key=lambda r: -r["minutes"])[:10]), hide_index=True, width="stretch"
)

if rows:
    st.markdown("**" + _("Timeline of outages") + "**")
    end = datetime.now(UTC)
    frame = pd.DataFrame(
        [{**r, "to": r["to"] or end, "reason": uikit.reason_label(r["reason"])} for r in rows]
    )
    frame["from"], frame["to"] = (uikit.wall_clock(pd.to_datetime(frame[k], utc=True))
                                  for k in ("from", "to"))  # fmt: skip
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "from:T",
                title=uikit.tr().zone_label,
                scale=alt.Scale(type="utc"),
                axis=alt.Axis(format="%d %b %H:%M"),
            ),
            x2="to:T",
            y=alt.Y("camera:N", title=None),
            color=alt.Color("reason:N", title=_("reason")),
            tooltip=[
                alt.Tooltip(f"{key}:{kind}", title=uikit.column_label(key))
                for key, kind in (("camera", "N"), ("reason", "N"), ("minutes", "Q"))
            ],
        )
    )
    uikit.chart(chart)

slow = svc.live.status()["long_keyframe_interval"] if svc.live is not None else {}
named = [(c.props.name, slow[c.id]) for c in cameras if c.id in slow]
if named:  # their first live frame waits for a keyframe: say which, and how long
    st.markdown("**" + _("Live video: cameras with a long keyframe interval") + "**")
    st.caption(
        "; ".join(_("{name}: every {n} s").format(name=n, n=round(s, 1)) for n, s in named)
        + " — "
        + _("a first live frame waits for the next keyframe: set the camera's to 1–2 s.")
    )

uikit.maintenance_panel(svc, session, cameras)

if session.role == "admin":
    uikit.quarantine_table(svc)
