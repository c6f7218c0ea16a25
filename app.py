"""Lawang Jabo server: ``streamlit run app.py``.

Builds the ``st.App`` around the UI script so the server also carries HTTP routes (``/api/...``),
a lifespan (database, and later the snapshot poller) and, later, auth middleware.
"""

import inspect
import logging
import os

import streamlit as st
import uvicorn
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.runtime.pages_manager import PagesManager

from lawangjabo.auth.access import AuthGate, forwarded_allow_ips
from lawangjabo.server.services import get_services
from lawangjabo.server.web import PageLocale, api_routes, lifespan

# home.py navigates with st.navigation. Streamlit 1.67 would still treat the first run in a fresh
# process as a legacy pages/ app (it only learns otherwise when st.navigation first runs), so a
# first visitor deep-linking /registry got the bare page. Say so up front; a browser test checks.
PagesManager.uses_pages_directory = False

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def trust_only_configured_proxies(allowed: str) -> bool:
    """X-Forwarded-For / -Proto are believed only from ``[auth] trusted_proxies``. uvicorn, which
    runs this app, reads its list (default: any local process) from FORWARDED_ALLOW_IPS when
    its config is made, before this file is imported; so set the variable for any later config
    and correct the config that is importing us now (found on the call stack)."""
    os.environ["FORWARDED_ALLOW_IPS"] = allowed
    frame = inspect.currentframe()
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, uvicorn.Config):
            owner.forwarded_allow_ips = allowed
            return True
        frame = frame.f_back
    return False


if not trust_only_configured_proxies(forwarded_allow_ips(get_services().settings.auth)):
    logging.getLogger("lawangjabo").info("not run by uvicorn: proxy trust set for later runs")


def person_acting(data: bytes) -> bool:
    """Is this websocket message from the browser a person acting (not a timed refresh or a
    heartbeat)? Only those keep a session from idling out."""
    message = BackMsg()
    try:
        message.ParseFromString(data)
    except Exception:
        return False
    kind = message.WhichOneof("type")
    if kind == "rerun_script":
        return not message.rerun_script.is_auto_rerun
    return kind not in (None, "app_heartbeat", "file_urls_request")


# Streamlit leaves its static files (3.4 MB of scripts) uncompressed, which suits a LAN but
# not the mayor's phone: compress text responses (scripts, styles, pages, JSON; not pictures).
# Then every request and the websocket pass the sign-in gate (unless auth is disabled).
# Innermost, Streamlit's page learns the person's UI locale before its scripts run.
middleware = [Middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)]
if get_services().settings.auth.enabled:
    middleware.append(
        Middleware(
            AuthGate, sessions=lambda: get_services().sessions, websocket_activity=person_acting
        )
    )
middleware.append(Middleware(PageLocale))
app = st.App("home.py", routes=api_routes(), lifespan=lifespan, middleware=middleware)
