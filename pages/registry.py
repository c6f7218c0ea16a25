"""Camera registry: what loaded, from which sources, what was rejected; check a file."""

import tempfile
from pathlib import Path

import streamlit as st

import uikit
from lawangjabo.cameras.registry import read_camera_file
from lawangjabo.views.mapview import public_rows
from uikit import _

session = uikit.require_page("registry")
svc = uikit.services()
settings = svc.settings
snapshot = svc.snapshot()
registry = snapshot.registry

st.title(_("Camera registry"))
uikit.registry_banner(snapshot)
loaded, rejected, warned = st.columns(3)
cameras = uikit.visible_cameras(session)  # agency scope: no other agency's internal ones
loaded.metric(_("Cameras loaded"), len(cameras))
rejected.metric(_("Records rejected"), len(registry.rejects))
warned.metric(_("Warnings"), len(registry.warnings))

rows = public_rows(settings, cameras)
st.dataframe(
    uikit.labelled(
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
        ]
    ),
    hide_index=True,
    width="stretch",
)
for warning in uikit.visible_warnings(registry.warnings, cameras):
    st.warning(warning)
st.markdown(uikit.districts_caption(snapshot, admin=session.role == "admin"))

st.subheader(_("Check a registry file"))
st.caption(
    _(
        "GeoJSON or CSV. Nothing is written here; import with "
        "`python -m lawangjabo import-cameras FILE`."
    )
)
upload = st.file_uploader(_("Registry file"), type=["geojson", "json", "csv"])
if upload is not None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        checked = read_camera_file(path, settings, snapshot.districts)
    st.write(
        _("{valid} valid, {rejected} rejected.").format(
            valid=len(checked.cameras), rejected=len(checked.rejects)
        )
    )
    for reject in checked.rejects:
        st.error(str(reject))
