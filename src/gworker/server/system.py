"""Routes about the control plane itself: health, status, tokens."""

from __future__ import annotations

import os
import secrets
import time

from aiohttp import web

from .http import hash_secret, reply
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


def new_token(state: State) -> tuple[str, str]:
    token_id, secret = "tk-" + secrets.token_hex(8), secrets.token_urlsafe(32)
    state.store.add_token(token_id, hash_secret(secret))
    state.store.commit()
    state.tokens[token_id] = hash_secret(secret)
    return token_id, secret


@routes.post("/v1/tokens")
async def create_token(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    if request["identity"][0] != "user":
        from .errors import Unauthorized

        raise Unauthorized("containers cannot create tokens")
    token_id, secret = new_token(state)
    return reply({"token_id": token_id, "token_secret": secret})
