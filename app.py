"""Lawang Jabo server: ``streamlit run app.py``.

Builds the ``st.App`` around the UI script so the server also carries HTTP routes (``/api/...``),
a lifespan (database, and later the snapshot poller) and, later, auth middleware.
"""

import logging

import streamlit as st

from lawangjabo.web import api_routes, lifespan

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = st.App("home.py", routes=api_routes(), lifespan=lifespan)
