"""Tokens: named users with a role, and their revocation.

Which role a route needs is ``roles.py``'s; the check happens in the auth middleware
(``http.py``) for every request, and the audit log is ``audit.py``'s.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from gworker_client._protocol.objects import name_problem

from ..store.identities import ROLES
from .errors import Conflict, InvalidRequest, NotFound
from .http import body, hash_secret, reply
from .state import State

routes = web.RouteTableDef()


def new_token(state: State, user: str, role: str) -> tuple[str, str]:
    token_id, secret = "tk-" + secrets.token_hex(8), secrets.token_urlsafe(32)
    state.store.add_token(token_id, hash_secret(secret), user, role)
    state.store.commit()
    state.tokens.update(state.store.tokens())
    return token_id, secret


@routes.post("/v1/tokens")
async def create_token(request: web.Request) -> web.Response:
    """A new API token for a named user with a role (admins only, see roles.py)."""
    state: State = request.app["state"]
    req = await body(request)
    user, role = req.get("user", "local"), req.get("role", "developer")
    problem = name_problem("user", user)
    if problem:
        raise InvalidRequest(problem)
    if role not in ROLES:
        raise InvalidRequest(f"role {role!r} is not one of {', '.join(ROLES)}")
    token_id, secret = new_token(state, user, role)
    return reply({"token_id": token_id, "token_secret": secret, "user": user, "role": role})


@routes.get("/v1/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    rows = [
        {
            "token_id": tid,
            "user": t.user,
            "role": t.role,
            "created_at": t.created_at,
            "revoked": t.revoked,
        }
        for tid, t in sorted(state.tokens.items(), key=lambda item: item[1].created_at)
    ]
    return reply({"tokens": rows})


@routes.post("/v1/tokens/{token_id}/revoke")
async def revoke_token(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    token_id = request.match_info["token_id"]
    token = state.tokens.get(token_id)
    if token is None:
        raise NotFound(f"no token {token_id!r} (`gw token list` shows them)")
    admins = [t for tid, t in state.tokens.items() if t.role == "admin" and not t.revoked]
    if token.role == "admin" and not token.revoked and len(admins) == 1:
        raise Conflict(
            f"{token_id!r} is the last admin token: create another admin first"
            " (`gw token new --user NAME --role admin`), so this server keeps one"
        )
    state.store.revoke_token(token_id)
    state.store.commit()
    state.tokens.update(state.store.tokens())
    return reply({"token_id": token_id, "revoked": True})
