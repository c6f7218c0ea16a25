"""Operations map: every camera with its health, field of view, sites, the Musi, the districts."""

import streamlit as st

import uikit
import uikit_map
from lawangjabo.auth.access import CAN_REFRESH
from lawangjabo.server.web import deck_bundle_url
from lawangjabo.views.healthview import tiles
from lawangjabo.views.mapview import (
    LayerToggles,
    camera_details,
    filter_cameras,
    operations_map_data,
)
from lawangjabo.views.opsmap import SMALL_MAP
from uikit import _

MAP_KEY = "ops_map"
session = uikit.require_page("operations_map")
svc = uikit.services()
settings = svc.settings
snapshot = svc.snapshot()
registry = snapshot.registry
state = st.session_state
state.setdefault("selected_camera", None)
state.setdefault("focus_camera", None)
state.setdefault("select_seq", 0)  # counts the choices the page makes itself (see the map)


def _on_map_select() -> None:
    """The operator chose a camera in the map (or closed it). The component has already shown
    the stored picture and asked for a fresh one; the page shows the details. A value the
    browser sends is believed only for a camera this account may see."""
    chosen = uikit_map.selected(state.get(MAP_KEY))
    visible = {c.id for c in uikit.visible_cameras(session)}
    state.selected_camera = chosen if chosen in visible else None
    if chosen and state.selected_camera is None:
        state.select_seq += 1  # refused: the map is told to close its card


with st.sidebar:
    st.subheader(_("Layers"))
    toggles = LayerToggles(
        cameras=st.toggle(_("Cameras"), value=True),
        fov=st.toggle(_("Fields of view"), value=True),
        sites=st.toggle(_("Strategic sites"), value=True),
        districts=st.toggle(
            _("Districts ({label})").format(label=settings.city.district_label), value=True
        ),
        river=st.toggle(_("River"), value=True),
    )
    agency_options = {
        a.id: a.name
        for a in settings.agencies
        if any(c.props.owner == a.id for c in registry.cameras)
    }
    chosen = uikit.multiselect(
        _("Agencies"),
        list(agency_options),
        format_func=lambda a: agency_options[a],
        placeholder=_("All agencies"),
    )

cameras = filter_cameras(uikit.visible_cameras(session), set(chosen))
linked = st.query_params.get("camera")  # a link to one camera (/?camera=ID)
if linked and state.get("linked_camera") != linked:
    state.linked_camera = linked
    if any(c.id == linked for c in cameras):
        state.selected_camera = state.focus_camera = linked
        state.select_seq += 1
    else:
        st.warning(_("No camera {id} that you may see.").format(id=linked))

uikit.registry_banner(snapshot)
map_col, panel_col = st.columns([3, 1], gap="small")
with map_col, st.container(key="ops-map"):
    payload = operations_map_data(
        svc,
        session.agencies,
        toggles,
        set(chosen),
        # thousands of cameras: their states come from /api/map/state, not with every rerun
        tiles(
            svc,
            cameras
            if len(cameras) <= SMALL_MAP
            else [c for c in cameras if c.id == state.selected_camera],
        ),
        uikit.tr(),
        selected=state.selected_camera,
        focus=state.focus_camera,
        bundle_url=deck_bundle_url(),
        can_refresh=session.role in CAN_REFRESH,
    )
    payload["select_seq"] = state.select_seq
    uikit_map.operations_map(payload, key=MAP_KEY, on_change=_on_map_select)
    st.markdown(
        uikit.legend() + " " + _("{n} cameras shown.").format(n=len(cameras)),
        unsafe_allow_html=True,
    )
with st.sidebar:
    st.caption(
        uikit.districts_caption(snapshot, admin=session.role == "admin")
        + (
            " " + _("Basemap © CARTO © OpenStreetMap when online; all layers work offline.")
            if settings.map.basemap == "carto"
            else ""
        )
    )


def camera_panel() -> None:
    """The selected camera's state, facts and history; refreshes itself, never redraws the map."""
    camera = registry.by_id(state.selected_camera) if state.selected_camera else None
    if camera is not None and camera not in uikit.visible_cameras(session):
        camera = None  # never another agency's internal camera, however it was asked for
    if camera is None:
        st.subheader(_("Camera details"))
        st.caption(_("Click a camera on the map, or find it by name, id or agency."))
        return
    st.container(key="camera-chosen", height=1, border=False)  # the phone's sheet opens
    tile = tiles(svc, [camera])[0]
    details = camera_details(settings, camera, uikit.tr(), provenance=session.role == "admin")
    st.subheader(details.pop(_("name")))
    with st.container(key=f"state-{camera.id}"):  # the picture is in the map's card
        uikit.status_line(tile, refreshing=svc.refreshing(camera.id))
    if st.button(_("Refresh now"), key="refresh-now", icon=":material/refresh:"):
        svc.refresh(camera.id)
        st.rerun()  # a full run re-arms the panel's quick cadence while the capture runs
    st.caption(f"{details.pop(_('agency'))} · {details[settings.city.district_label]}")
    note = details.pop(_("note"))
    st.markdown("\n".join(f"- **{k}**: {v}" for k, v in details.items()))
    if note:
        st.info(note, icon=":material/info:")
    with st.expander(_("What did it show at…")):
        uikit.history_view(svc, camera.id)


# Every second while a fresh picture is on its way, else every 5 s.
pending = bool(state.selected_camera) and svc.refreshing(state.selected_camera)
with panel_col, st.container(key="camera-details", border=True):
    st.fragment(uikit.guarded(camera_panel), run_every=1 if pending else 5)()
