"""HTTP routes and lifespan for the ``st.App`` (Starlette); no Streamlit imports here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from .services import close_all, get_services

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


async def health(request: Request) -> JSONResponse:
    """``GET /api/health``: version, cameras loaded/rejected, districts, database status."""
    report = await run_in_threadpool(lambda: get_services().health())
    return JSONResponse(report, headers=NO_STORE)


def api_routes() -> list[BaseRoute]:
    return [Route("/api/health", health, methods=["GET"], name="health")]


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    """Open the database and load the registry before serving; close on shutdown."""
    services = await run_in_threadpool(get_services)
    report = await run_in_threadpool(services.health)
    log.info("Lawang Jabo started: %s", report)
    try:
        yield {"services": services}
    finally:
        await run_in_threadpool(close_all)
