"""Alerts: what the rules found, who acknowledged it and when; the webhook's dead letters."""

from datetime import UTC, datetime, timedelta

import streamlit as st

import uikit
from lawangjabo.auth.access import CAN_ACKNOWLEDGE
from uikit import _

session = uikit.require_page("alerts")
svc = uikit.services()
t = uikit.tr()
book = svc.alerts()
st.subheader(_("Alerts"))
if book is None:
    st.error(_("The database is unavailable."))
    st.stop()
may_ack = not uikit.auth_enabled() or session.role in CAN_ACKNOWLEDGE
active = uikit.active_alerts(session)
st.caption(
    _("{n} active. Rules run every {s:.0f} s; an alert closes by itself when it stops holding.")
    .format(n=len(active), s=svc.settings.alerts.evaluate_every_s)
)  # fmt: skip
for alert in active:
    with st.container(border=True, key=f"alert-{alert.id}"):
        icon = (
            ":red[:material/error:]"
            if alert.severity == "critical"
            else ":orange[:material/warning:]"
        )
        st.markdown(f"{icon} **{uikit.alert_text(alert)}**")
        since = _("since {when}").format(when=t.when(alert.opened_at))
        if alert.acked_by:
            st.caption(
                since
                + " · "
                + _("acknowledged by {user} at {when}").format(
                    user=alert.acked_by, when=t.when(alert.acked_at or alert.opened_at)
                )
            )
        else:
            st.caption(since)
            if may_ack and st.button(_("Acknowledge"), key=f"ack-{alert.id}"):
                book.acknowledge(alert.id, session.user)
                svc.audit(session.user, "alert_acknowledged", {"id": alert.id})
                st.rerun()

st.markdown("**" + _("Closed in the last 24 h") + "**")
recent = book.recent(datetime.now(UTC) - timedelta(hours=24))
closed = [a for a in uikit.visible_alert_filter(session, recent) if a.resolved_at is not None]
rows = [
    {
        _("alert"): uikit.alert_text(a),
        _("from"): t.when(a.opened_at),
        _("to"): t.when(a.resolved_at) if a.resolved_at else "",
        _("acknowledged by"): a.acked_by or "",
    }
    for a in closed
]
if rows:
    st.dataframe(rows, hide_index=True, width="stretch")
else:
    st.caption(_("None."))
if svc.settings.alerts.webhook_url:
    counts = book.delivery_counts()
    st.caption(
        _("Webhook: {sent} sent, {pending} waiting, {dead} given up.").format(
            sent=counts.get("sent", 0), pending=counts.get("pending", 0), dead=counts.get("dead", 0)
        )
    )
    dead = book.dead_letters()
    if dead:
        st.markdown("**" + _("Dead letters (not delivered after every retry)") + "**")
        st.dataframe(uikit.labelled(dead), hide_index=True, width="stretch")
else:
    st.caption(_("No webhook configured ([alerts] webhook_url); alerts show here only."))
