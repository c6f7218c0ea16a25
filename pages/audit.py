"""Audit log (admins): who signed in, looked at which camera, changed which incident, when."""

from datetime import UTC, datetime, timedelta

import streamlit as st

import uikit

session = uikit.require_page("audit")
svc = uikit.services()
st.subheader("Audit log")
days = st.slider("Days back", 1, 90, 7)
actor = st.text_input("Who (exact user name, empty for everyone)")
action = st.text_input("What (exact action, e.g. login_failed, snapshot_view)")
frame = svc.audit_entries(datetime.now(UTC) - timedelta(days=days), actor, action)
if frame is None:
    st.error("The database is unavailable.")
    st.stop()
st.caption(f"{len(frame)} entries (newest first, at most 5,000)")
st.dataframe(frame, hide_index=True, width="stretch")
if st.download_button(
    "Export CSV", frame.to_csv(index=False), file_name="audit.csv", mime="text/csv"
):
    svc.audit(session.user, "audit_export", {"days": days, "actor": actor, "action": action})
