"""UI entry script: page config, who is signed in, and the pages their role may use."""

import streamlit as st

import uikit
from uikit import _

st.set_page_config(
    page_title="Lawang Jabo",
    page_icon="assets/icon.png",
    layout="wide",
    initial_sidebar_state="auto",
)

session = uikit.current_session()
if session is None:  # the gate lets no one through without a session; this is the backstop
    st.error(_("Please sign in."))
    sign_in = _("Sign in")
    st.markdown(f'<a href="/login" target="_self">{sign_in}</a>', unsafe_allow_html=True)
    st.stop()

home = uikit.home_page(session)
PAGES = {
    "brief": (_("Brief"), ":material/dashboard:"),
    "alerts": (_("Alerts"), ":material/notifications:"),
    "operations_map": (_("Operations map"), ":material/map:"),
    "camera_wall": (_("Camera wall"), ":material/grid_view:"),
    "health": (_("Camera health"), ":material/monitor_heart:"),
    "incidents": (_("Incidents"), ":material/emergency:"),
    "analytics": (_("Analytics"), ":material/query_stats:"),
    "registry": (_("Camera registry"), ":material/list_alt:"),
    "audit": (_("Audit log"), ":material/policy:"),
}
allowed = uikit.allowed_pages(session)
navigation = st.navigation(
    [
        st.Page(f"pages/{name}.py", title=title, icon=icon, default=name == home)
        for name, (title, icon) in PAGES.items()
        if name in allowed
    ]
)
with st.sidebar:
    st.caption(
        _("Signed in as **{user}** ({role})").format(user=session.user, role=_(session.role))
    )
    uikit.language_picker(session)
    if uikit.auth_enabled():
        sign_out = _("Sign out")
        st.markdown(f'<a href="/logout" target="_self">{sign_out}</a>', unsafe_allow_html=True)
    else:
        st.warning(_("Sign-in is disabled in this configuration."))
uikit.page_style()
uikit.frontend_texts()
uikit.status_strip(uikit.services(), session)
try:
    navigation.run()
except Exception as exc:  # no traceback in the browser: a reference, details in the log
    uikit.report_error(exc)
