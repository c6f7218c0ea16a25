"""Audit log (admins): who signed in, looked at which camera, changed which incident, when."""

from datetime import UTC, datetime, timedelta

import streamlit as st

import uikit
from lawangjabo.storage import audit as audit_log
from uikit import _

session = uikit.require_page("audit")
svc = uikit.services()
st.subheader(_("Audit log"))
days = st.slider(_("Days back"), 1, 90, 7)
actor = st.text_input(_("Who (exact user name, empty for everyone)"))
action = st.text_input(_("What (exact action, e.g. login_failed, snapshot_view)"))
frame = svc.audit_entries(datetime.now(UTC) - timedelta(days=days), actor, action)
if frame is None:
    st.error(_("The database is unavailable."))
    st.stop()
st.caption(_("{n} entries (newest first, at most 5,000)").format(n=len(frame)))
local = uikit.tr().timezone
shown = frame.assign(happened_at=frame["happened_at"].map(uikit.tr().when))  # WIB, as everywhere
st.dataframe(shown.rename(columns=uikit.column_label), hide_index=True, width="stretch")
if st.download_button(  # no cell a live formula: a failed sign-in's user name is anyone's text
    _("Export CSV"), audit_log.csv_export(frame, local), file_name="audit.csv", mime="text/csv"
):
    svc.audit(session.user, "audit_export", {"days": days, "actor": actor, "action": action})
