"""UI entry script: page config and navigation. Pages live in ``pages/``."""

import streamlit as st

st.set_page_config(
    page_title="Lawang Jabo",
    page_icon="assets/icon.png",
    layout="wide",
    initial_sidebar_state="auto",
)

navigation = st.navigation(
    [
        st.Page(
            "pages/operations_map.py", title="Operations map", icon=":material/map:", default=True
        ),
        st.Page("pages/camera_wall.py", title="Camera wall", icon=":material/grid_view:"),
        st.Page("pages/health.py", title="Camera health", icon=":material/monitor_heart:"),
        st.Page("pages/incidents.py", title="Incidents", icon=":material/emergency:"),
        st.Page("pages/analytics.py", title="Analytics", icon=":material/query_stats:"),
        st.Page("pages/registry.py", title="Camera registry", icon=":material/list_alt:"),
    ]
)
navigation.run()
