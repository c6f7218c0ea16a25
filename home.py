"""UI entry script: page config, who is signed in, and the pages their role may use."""

import streamlit as st

import uikit

st.set_page_config(
    page_title="Lawang Jabo",
    page_icon="assets/icon.png",
    layout="wide",
    initial_sidebar_state="auto",
)

session = uikit.current_session()
if session is None:  # the gate lets no one through without a session; this is the backstop
    st.error("Please sign in.")
    st.markdown('<a href="/login" target="_self">Sign in</a>', unsafe_allow_html=True)
    st.stop()

PAGES = {
    "operations_map": st.Page(
        "pages/operations_map.py", title="Operations map", icon=":material/map:", default=True
    ),
    "camera_wall": st.Page(
        "pages/camera_wall.py", title="Camera wall", icon=":material/grid_view:"
    ),
    "health": st.Page("pages/health.py", title="Camera health", icon=":material/monitor_heart:"),
    "incidents": st.Page("pages/incidents.py", title="Incidents", icon=":material/emergency:"),
    "analytics": st.Page("pages/analytics.py", title="Analytics", icon=":material/query_stats:"),
    "registry": st.Page("pages/registry.py", title="Camera registry", icon=":material/list_alt:"),
    "audit": st.Page("pages/audit.py", title="Audit log", icon=":material/policy:"),
}
allowed = uikit.allowed_pages(session)
navigation = st.navigation([page for name, page in PAGES.items() if name in allowed])
with st.sidebar:
    st.caption(f"Signed in as **{session.user}** ({session.role})")
    if uikit.auth_enabled():
        st.markdown('<a href="/logout" target="_self">Sign out</a>', unsafe_allow_html=True)
    else:
        st.warning("Sign-in is disabled in this configuration.")
navigation.run()
