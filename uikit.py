"""Shared UI helpers for the pages (the only UI module besides the page scripts)."""

from __future__ import annotations

import streamlit as st

from lawangjabo.services import Services, Snapshot, get_services


def services() -> Services:
    """The process-wide services for the configured city."""
    return get_services()


def registry_banner(snapshot: Snapshot) -> None:
    """Say plainly when registry features were rejected; list them on demand."""
    rejects = snapshot.registry.rejects
    if not rejects:
        return
    st.warning(
        f"{len(rejects)} camera record(s) in the registry were rejected and are not on the map. "
        "The valid cameras are shown.",
        icon=":material/warning:",
    )
    with st.expander("Rejected registry records"):
        for reject in rejects:
            st.text(str(reject))


def districts_caption(snapshot: Snapshot) -> str:
    layer = snapshot.districts
    if layer.official:
        return f"Districts: {layer.source}."
    return (
        "Districts are **approximate** (Voronoi cells of reference points) until official "
        "boundaries are imported: `python -m lawangjabo import-districts FILE`."
    )
