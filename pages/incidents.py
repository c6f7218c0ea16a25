"""Incidents (operators): log an incident, route it, move it along its lifecycle."""

from datetime import UTC, datetime, timedelta

import streamlit as st

import uikit
import uikit_incidents
from lawangjabo.incidents.analytics import Filters
from lawangjabo.incidents.store import OPEN_STATUSES, STATUSES
from lawangjabo.views.incidentview import incident_list, next_statuses
from uikit import _

session = uikit.require_page("incidents")
svc = uikit.services()
settings = svc.settings
store = svc.incidents()
st.subheader(_("Incidents"))
if store is None:
    st.error(_("The incident database is unavailable."))
    st.stop()
agencies = {a.id: a.name for a in settings.agencies}
agency_ids: list[str] = list(agencies)
cameras = {c.id: c for c in uikit.visible_cameras(session)}
scope = uikit.camera_scope(session)  # nearest camera and its distance among these cameras only
actor = session.user

uikit_incidents.incident_place_picker(svc, list(cameras.values()))
uikit_incidents.incident_form(svc, store, actor, list(cameras.values()))

days = st.slider(_("Days back"), 1, 90, 7)
statuses = uikit.multiselect(_("Status"), STATUSES, default=list(OPEN_STATUSES), format_func=_)
now = datetime.now(UTC)
shown = Filters(
    now - timedelta(days=days),
    now + timedelta(minutes=1),
    statuses=tuple(statuses),
    agencies=session.agencies,
)  # an account limited to agencies sees theirs
rows = incident_list(svc, shown, scope)
st.caption(_("{n} incidents (newest first, at most 500)").format(n=len(rows)))
with st.expander(_("Import and export")):
    uikit_incidents.incident_import(store, actor)
    uikit_incidents.incident_export(store, shown, actor, scope)
picked = st.dataframe(
    uikit.labelled(rows),
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key="incident-table",
)
if picked.selection.rows:
    st.session_state.incident = rows[picked.selection.rows[0]]["id"]

linked = st.query_params.get("incident")  # a link to one incident (/incidents?incident=ID)
if linked and linked.isdigit() and st.session_state.get("incident-linked") != linked:
    st.session_state.incident = st.session_state["incident-linked"] = int(linked)
incident = scope.incident(store.get(st.session_state.get("incident", -1)))
if incident is not None and session.agencies and incident["lead_agency"] not in session.agencies:
    incident = None  # outside this account's agencies
if incident is not None:
    with st.container(border=True, key="incident-detail"):
        uikit_incidents.incident_header(
            incident, settings.category_names(uikit.tr().lang)[incident["category"]], agencies
        )
        buttons = st.columns(max(1, len(next_statuses(incident["status"]))))
        for column, target in zip(buttons, next_statuses(incident["status"]), strict=False):
            if column.button(_(target), key=f"to-{target}"):
                store.transition(incident["id"], target, actor)
                svc.audit(actor, "incident_status", {"id": incident["id"], "to": target})
                st.rerun()
        assign = st.selectbox(
            _("Route to agency"),
            agency_ids,
            format_func=lambda a: agencies[a],
            index=agency_ids.index(incident["lead_agency"]),
        )
        if assign and assign != incident["lead_agency"] and st.button(_("Assign")):
            store.assign(incident["id"], assign, actor)
            svc.audit(actor, "incident_assigned", {"id": incident["id"], "agency": assign})
            st.rerun()
        st.markdown("**" + _("Event log") + "**")
        st.dataframe(uikit.labelled(store.events(incident["id"])), hide_index=True, width="stretch")
        uikit_incidents.was_it_on_camera(svc, incident, list(cameras.values()), actor)
