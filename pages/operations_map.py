"""Operations map: every camera with its health, field of view, sites, the Musi, the districts."""

import streamlit as st

import uikit
from lawangjabo.views.healthview import tiles
from lawangjabo.views.layers import camera_layer_id, picked_camera
from lawangjabo.views.mapview import (
    LayerToggles,
    camera_details,
    filter_cameras,
    operations_deck,
    public_rows,
    search_label,
)
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
state.setdefault("pick_epoch", 0)


def _select(camera_id: str) -> None:
    """A camera was chosen: show its stored picture at once and ask the fast lane for a fresh
    one, which the panel swaps in when it arrives (nobody waits for a capture)."""
    state.selected_camera = camera_id
    svc.audit(session.user, "snapshot_view", {"camera": camera_id})
    svc.refresh(camera_id)


def _on_map_select() -> None:
    picked = picked_camera(state[MAP_KEY].selection.objects, state.pick_epoch)
    if picked:
        state.pick_epoch += 1  # see camera_layer_id: the map must not fade
        _select(picked)


def _on_search() -> None:
    if state.camera_search:
        state.focus_camera = state.camera_search
        _select(state.camera_search)


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
labels = {row["id"]: search_label(row) for row in public_rows(settings, cameras)}
tile_by_id = {t.camera_id: t for t in tiles(svc, cameras)}

uikit.registry_banner(snapshot)
map_col, panel_col = st.columns([3, 1], gap="small")
with map_col, st.container(key="ops-map"):
    st.selectbox(
        _("Find a camera"),
        options=list(labels),
        format_func=lambda c: labels[c],
        index=None,
        key="camera_search",
        on_change=_on_search,
        placeholder=_("Find a camera: type a name, id or agency"),
        label_visibility="collapsed",
    )
    deck = operations_deck(
        settings,
        snapshot,
        toggles,
        cameras,
        selected_id=state.selected_camera,
        focus_id=state.focus_camera,
        tiles=tile_by_id,
        translator=uikit.tr(),
        camera_layer_id=camera_layer_id(state.pick_epoch),
    )
    st.pydeck_chart(
        deck, on_select=_on_map_select, selection_mode="single-object", key=MAP_KEY, height=640
    )
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
    """The selected camera's picture and facts; refreshes itself, never redraws the map."""
    camera = registry.by_id(state.selected_camera) if state.selected_camera else None
    if camera is None:
        st.subheader(_("Camera details"))
        st.caption(_("Click a camera on the map, or find it by name, id or agency."))
        return
    st.container(key="camera-chosen", height=1, border=False)  # the phone's sheet opens
    tile = tiles(svc, [camera])[0]
    details = camera_details(settings, camera, uikit.tr(), provenance=session.role == "admin")
    st.subheader(details.pop(_("name")))
    with st.container(key=f"picture-{camera.id}"):
        uikit.status_line(tile, refreshing=svc.refreshing(camera.id))
        uikit.snapshot_view(svc, tile)
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
