"""Routes about the control plane itself: health and status."""

from __future__ import annotations

import os
import time

from aiohttp import web

from .http import reply
from .state import State

routes = web.RouteTableDef()
STARTED = time.time()


@routes.get("/v1/health")
async def health(request: web.Request) -> web.Response:
    return reply({"ok": True, "pid": os.getpid()})


@routes.get("/v1/status")
async def status(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    return reply(
        {
            "pid": os.getpid(),
            "uptime_s": time.time() - STARTED,
            "home": str(request.app["home"]),
            **state.scheduler.describe(),
        }
    )
