"""Incidents (operators): log an incident, route it, move it along its lifecycle."""

from datetime import UTC, datetime, timedelta

import streamlit as st

import uikit
from lawangjabo.analytics import Filters
from lawangjabo.incidents import OPEN_STATUSES, PRIORITIES, STATUSES, IncidentError, NewIncident
from lawangjabo.incidentview import cell_centre, incident_list, next_statuses

session = uikit.require_page("incidents")
svc = uikit.services()
settings = svc.settings
store = svc.incidents()
st.subheader("Incidents")
uikit.status_banners(svc)
if store is None:
    st.error("The incident database is unavailable.")
    st.stop()
categories = {c.id: c for c in settings.incident_categories}
agencies = {a.id: a.name for a in settings.agencies}
agency_ids: list[str] = list(agencies)
cameras = {c.id: c for c in uikit.visible_cameras(session)}
sites = {s.id: s for s in settings.city.sites}
actor = session.user

uikit.incident_place_picker(svc)

with st.form("new-incident"):
    category = st.selectbox("Category", list(categories), format_func=lambda c: categories[c].name)
    st.caption("The lead agency follows the category (it can be changed after).")
    priority = st.radio("Priority", PRIORITIES, index=1, horizontal=True)
    where = st.radio(
        "Where",
        ["Site", "Camera", "Coordinates (or the map click)"],
        horizontal=True,
        index=2 if st.session_state.get("picked_cell") else 0,
    )
    site = st.selectbox("Site", list(sites), format_func=lambda s: sites[s].name)
    camera = st.selectbox("Camera", list(cameras), format_func=lambda c: cameras[c].props.name)
    start_lat, start_lon = (
        cell_centre(st.session_state.picked_cell)
        if st.session_state.get("picked_cell")
        else (settings.city.centre.lat, settings.city.centre.lon)
    )
    lat = st.number_input("Latitude", value=start_lat, format="%.5f")
    lon = st.number_input("Longitude", value=start_lon, format="%.5f")
    description = st.text_area("Description")
    if st.form_submit_button("Log incident", type="primary"):
        if where == "Site":
            lat, lon = sites[site].point.lat, sites[site].point.lon
        elif where == "Camera":
            lat, lon = cameras[camera].lat, cameras[camera].lon
        try:
            new_id = store.create(
                NewIncident(
                    datetime.now(UTC), category, priority, lat, lon, description=description
                ),
                actor,
            )
            st.session_state.incident = new_id
            svc.audit(actor, "incident_created", {"id": new_id, "category": category})
            st.success(
                f"Incident {new_id} logged; lead agency: {agencies[categories[category].lead]}."
            )
        except IncidentError as error:
            st.error(str(error))

days = st.slider("Days back", 1, 90, 7)
statuses = st.multiselect("Status", STATUSES, default=list(OPEN_STATUSES))
now = datetime.now(UTC)
shown = Filters(
    now - timedelta(days=days),
    now + timedelta(minutes=1),
    statuses=tuple(statuses),
    agencies=session.agencies,
)  # an account limited to agencies sees theirs
rows = incident_list(svc, shown)
st.caption(f"{len(rows)} incidents (newest first, at most 500)")
with st.expander("Import and export"):
    uikit.incident_import(store, actor)
    uikit.incident_export(store, shown, actor)
picked = st.dataframe(
    rows,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key="incident-table",
)
if picked.selection.rows:
    st.session_state.incident = rows[picked.selection.rows[0]]["id"]

incident = store.get(st.session_state.get("incident", -1))
if incident is not None and session.agencies and incident["lead_agency"] not in session.agencies:
    incident = None  # outside this account's agencies
if incident is not None:
    with st.container(border=True, key="incident-detail"):
        st.markdown(
            f"**Incident {incident['id']}** · {categories[incident['category']].name} · "
            f"{incident['priority']} · **{incident['status']}** · lead: "
            f"{agencies.get(incident['lead_agency'], incident['lead_agency'])}"
        )
        st.caption(
            f"{incident['kecamatan']} · {incident['lat']:.5f}, {incident['lon']:.5f} · "
            f"nearest camera {incident['nearest_camera']} "
            f"({incident['camera_distance_m']} m)"
        )
        buttons = st.columns(max(1, len(next_statuses(incident["status"]))))
        for column, target in zip(buttons, next_statuses(incident["status"]), strict=False):
            if column.button(target, key=f"to-{target}"):
                store.transition(incident["id"], target, actor)
                svc.audit(actor, "incident_status", {"id": incident["id"], "to": target})
                st.rerun()
        assign = st.selectbox(
            "Route to agency",
            agency_ids,
            format_func=lambda a: agencies[a],
            index=agency_ids.index(incident["lead_agency"]),
        )
        if assign and assign != incident["lead_agency"] and st.button("Assign"):
            store.assign(incident["id"], assign, actor)
            svc.audit(actor, "incident_assigned", {"id": incident["id"], "agency": assign})
            st.rerun()
        st.markdown("**Event log**")
        st.dataframe(store.events(incident["id"]), hide_index=True, width="stretch")
        camera_id = incident["nearest_camera"]
        if camera_id:
            found = svc.store.at(camera_id, incident["reported_at"])
            if found:
                st.image(
                    found[1].read_bytes(),
                    width=360,
                    caption=(
                        f"{cameras[camera_id].props.name} at "
                        f"{uikit.local_time(found[0], settings.city.timezone)}"
                    ),
                )
