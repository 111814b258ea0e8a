"""``POST /v1/dashboard/link``: a one-time link token for the calling user (``gw dashboard``)."""

from __future__ import annotations

from aiohttp import web

from ..server.errors import Unauthorized
from ..server.http import reply

routes = web.RouteTableDef()


@routes.post("/v1/dashboard/link")
async def new_link(request: web.Request) -> web.Response:
    kind, token_id = request["identity"]
    if kind != "user":
        raise Unauthorized("containers cannot open the dashboard")
    link, expires_at = request.app["dashboard"].auth.new_link(token_id)
    return reply({"link": link, "expires_at": expires_at})
