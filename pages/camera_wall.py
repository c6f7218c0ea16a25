"""Camera wall: every camera's latest picture; failures first, with their last good frame."""

import streamlit as st

import uikit
from lawangjabo.views.healthview import (
    STATE_LABELS,
    WALL_PAGE,
    filter_tiles,
    sort_for_wall,
    state_counts,
    tiles,
    wall_page,
)
from uikit import _

session = uikit.require_page("camera_wall")
svc = uikit.services()
settings = svc.settings

st.subheader(_("Camera wall"))
everything = tiles(svc, uikit.visible_cameras(session))
with st.sidebar:
    agencies = uikit.multiselect(_("Agency"), sorted({t.agency for t in everything}))
    states = uikit.multiselect(
        _("State"),
        [s for s in STATE_LABELS if s in state_counts(everything)],
        format_func=lambda s: _(STATE_LABELS[s]),
    )
    kecamatan = uikit.multiselect(
        settings.city.district_label.capitalize(),
        sorted({t.kecamatan for t in everything if t.kecamatan}),
    )
    per_row = st.slider(_("Pictures per row"), 2, 6, 4)
    matching = len(filter_tiles(everything, set(agencies), set(states), set(kecamatan)))
    page = 1
    if matching > WALL_PAGE:  # thousands of pictures never render at once: failures come first
        page = int(st.number_input(_("Page"), 1, -(-matching // WALL_PAGE), 1))


@st.fragment(run_every=10)
@uikit.guarded
def wall() -> None:
    shown = sort_for_wall(
        filter_tiles(
            tiles(svc, uikit.visible_cameras(session)), set(agencies), set(states), set(kecamatan)
        )
    )
    counts = state_counts(shown)
    st.markdown(
        " ".join(f"{uikit.state_badge(s)} {n}" for s, n in counts.items()), unsafe_allow_html=True
    )
    if not shown:
        st.caption(_("No camera matches the filters."))
    total = len(shown)
    shown, pages = wall_page(shown, page)
    if pages > 1:
        at = min(page, pages)
        first = (at - 1) * WALL_PAGE + 1
        text = _("Showing {first}–{last} of {total} (page {page} of {pages}), failures first.")
        last = first + len(shown) - 1
        st.caption(text.format(first=first, last=last, total=total, page=at, pages=pages))
    for start in range(0, len(shown), per_row):
        for column, tile in zip(st.columns(per_row), shown[start : start + per_row], strict=False):
            with column, st.container(border=True, key=f"tile-{tile.camera_id}"):
                st.markdown(f"**{tile.name}**")
                uikit.status_line(tile)
                uikit.snapshot_view(svc, tile, thumb=True)
                st.caption(f"{tile.agency} · {tile.kecamatan}")


wall()
