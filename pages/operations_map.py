"""Operations map: every camera with its health, field of view, sites, the Musi, the districts."""

import streamlit as st

import uikit
from lawangjabo.healthview import tiles
from lawangjabo.layers import CAMERA_LAYER_ID
from lawangjabo.mapview import (
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


def _select(camera_id: str) -> None:
    """A camera was chosen: show it and fetch a fresh picture through the fast lane."""
    state.selected_camera = camera_id
    svc.audit(session.user, "snapshot_view", {"camera": camera_id})
    svc.refresh(camera_id, wait_s=uikit.REFRESH_WAIT_S)


def _on_map_select() -> None:
    picked = state[MAP_KEY].selection.objects.get(CAMERA_LAYER_ID) or []
    if picked:
        _select(picked[0]["id"])


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
    chosen = st.multiselect(
        _("Agencies"),
        list(agency_options),
        format_func=lambda a: agency_options[a],
        placeholder=_("All agencies"),
    )

cameras = filter_cameras(uikit.visible_cameras(session), set(chosen))
labels = {row["id"]: search_label(row) for row in public_rows(settings, cameras)}
tile_by_id = {t.camera_id: t for t in tiles(svc, cameras)}

st.subheader(_("Lawang Jabo · {city} — operations map").format(city=settings.city.name))
uikit.page_banners(svc, session)
uikit.registry_banner(snapshot)
st.selectbox(
    _("Find a camera"),
    options=list(labels),
    format_func=lambda c: labels[c],
    index=None,
    key="camera_search",
    on_change=_on_search,
    placeholder=_("Type a name, id or agency"),
)

map_col, panel_col = st.columns([3, 1], gap="medium")
with map_col:
    deck = operations_deck(
        settings,
        snapshot,
        toggles,
        cameras,
        selected_id=state.selected_camera,
        focus_id=state.focus_camera,
        tiles=tile_by_id,
        translator=uikit.tr(),
    )
    st.pydeck_chart(
        deck, on_select=_on_map_select, selection_mode="single-object", key=MAP_KEY, height=600
    )
    st.markdown(uikit.legend(), unsafe_allow_html=True)
    st.caption(
        _("{n} cameras shown.").format(n=len(cameras))
        + " "
        + uikit.districts_caption(snapshot)
        + (
            " " + _("Basemap © CARTO © OpenStreetMap when online; all layers work offline.")
            if settings.map.basemap == "carto"
            else ""
        )
    )


@st.fragment(run_every=5)
def camera_panel() -> None:
    """The selected camera's picture and facts; refreshes itself, never redraws the map."""
    camera = registry.by_id(state.selected_camera) if state.selected_camera else None
    if camera is None:
        st.subheader(_("Camera details"))
        st.caption(_("Click a camera on the map, or find it by name, id or agency."))
        return
    tile = tiles(svc, [camera])[0]
    details = camera_details(settings, camera, uikit.tr())
    st.subheader(details.pop(_("name")))
    uikit.status_line(tile)
    uikit.snapshot_view(svc, tile)
    if st.button(_("Refresh now"), key="refresh-now", icon=":material/refresh:"):
        svc.refresh(camera.id, wait_s=uikit.REFRESH_WAIT_S)
        st.rerun(scope="fragment")
    st.caption(f"{details.pop(_('agency'))} · {details[settings.city.district_label]}")
    note = details.pop(_("note"))
    st.markdown("\n".join(f"- **{k}**: {v}" for k, v in details.items()))
    if note:
        st.info(note, icon=":material/info:")
    with st.expander(_("What did it show at…")):
        uikit.history_view(svc, camera.id)


with panel_col, st.container(key="camera-details", border=True):
    camera_panel()
