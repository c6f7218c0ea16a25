"""Audit log (admins): who signed in, looked at which camera, changed which incident, when."""

from datetime import UTC, datetime, timedelta

import streamlit as st

import uikit
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
exported = frame.assign(happened_at=frame["happened_at"].dt.tz_convert(local).map(str))
if st.download_button(
    _("Export CSV"), exported.to_csv(index=False), file_name="audit.csv", mime="text/csv"
):
    svc.audit(session.user, "audit_export", {"days": days, "actor": actor, "action": action})
