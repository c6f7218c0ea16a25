"""Camera registry: what loaded, from which sources, what was rejected; check a file."""

import tempfile
from pathlib import Path

import streamlit as st

import uikit
from lawangjabo.mapview import public_rows
from lawangjabo.registry import read_camera_file

session = uikit.require_page("registry")
svc = uikit.services()
settings = svc.settings
snapshot = svc.snapshot()
registry = snapshot.registry

st.title("Camera registry")
uikit.registry_banner(snapshot)
loaded, rejected, warned = st.columns(3)
loaded.metric("Cameras loaded", len(registry.cameras))
rejected.metric("Records rejected", len(registry.rejects))
warned.metric("Warnings", len(registry.warnings))

rows = public_rows(settings, registry.cameras)
st.dataframe(
    [
        {
            k: row[k]
            for k in (
                "id",
                "name",
                "agency",
                "kecamatan",
                "kind",
                "verified",
                "confidence",
                "has_stream",
                "source",
            )
        }
        for row in rows
    ],
    hide_index=True,
    width="stretch",
)
for warning in registry.warnings:
    st.warning(warning)
st.markdown(uikit.districts_caption(snapshot))

st.subheader("Check a registry file")
st.caption(
    "GeoJSON or CSV. Nothing is written here; import with "
    "`python -m lawangjabo import-cameras FILE`."
)
upload = st.file_uploader("Registry file", type=["geojson", "json", "csv"])
if upload is not None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        checked = read_camera_file(path, settings, snapshot.districts)
    st.write(f"{len(checked.cameras)} valid, {len(checked.rejects)} rejected.")
    for reject in checked.rejects:
        st.error(str(reject))
