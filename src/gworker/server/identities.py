"""Tokens (named users with a role, revocation) and the audit log of mutating requests.

Which role a route needs is ``roles.py``'s; the check and the audit entry happen in the auth
middleware (``http.py``) for every request.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Callable

from aiohttp import web

from gworker_client._protocol.objects import name_problem

from ..store.identities import ROLES
from .errors import Conflict, InvalidRequest, NotFound
from .http import body, hash_secret, query_int, reply
from .state import State

routes = web.RouteTableDef()
# The audit log keeps the newest AUDIT_KEEP entries (checked every AUDIT_PRUNE_EVERY new ones).
AUDIT_KEEP = 1_000_000
AUDIT_PRUNE_EVERY = 10_000
log = logging.getLogger("gworker.server")


def new_token(state: State, user: str, role: str) -> tuple[str, str]:
    token_id, secret = "tk-" + secrets.token_hex(8), secrets.token_urlsafe(32)
    state.store.add_token(token_id, hash_secret(secret), user, role)
    state.store.commit()
    state.tokens.update(state.store.tokens())
    return token_id, secret


def recorder(state: State) -> Callable[[web.Request, int], None]:
    """What the auth middleware calls after each mutating request: one audit row."""

    recorded = 0

    def record(request: web.Request, status: int) -> None:
        nonlocal recorded
        if request["identity"][0] == "container" and request.path.startswith("/v1/containers/"):
            return  # a container's own data path (polls, heartbeats, probes) is not an action
        who, role = request["who"], request["role"]
        try:
            state.store.add_audit(who, role, request.method, request.path, status)
            recorded += 1
            if recorded % AUDIT_PRUNE_EVERY == 0:
                state.store.prune_audit(AUDIT_KEEP)
            state.scheduler.commit_soon()
        except Exception:  # a full disk: the request's own answer matters more than its entry
            log.exception("could not record %s %s by %s", request.method, request.path, who)

    return record


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


@routes.get("/v1/audit")
async def audit(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    after = query_int(request, "after")
    limit = min(max(query_int(request, "limit", 1000), 1), 10_000)
    rows = [
        {
            "seq": r.seq,
            "time": datetime.datetime.fromtimestamp(r.ts, datetime.timezone.utc).isoformat(),
            "who": r.who,
            "role": r.role,
            "method": r.method,
            "path": r.path,
            "status": r.status,
        }
        for r in state.store.audit(after, limit)
    ]
    return reply({"entries": rows})
