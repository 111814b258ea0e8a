"""msgpack in and out of aiohttp handlers, and the auth and error middleware."""

from __future__ import annotations

import errno
import hashlib
import hmac
import logging
import math
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgpack
import msgspec
from aiohttp import web

from gworker_client._protocol import Record, from_wire, to_wire
from gworker_client._protocol.limits import MAX_INT, MAX_REQUEST_BYTES
from gworker_client._protocol.objects import name_problem
from gworker_client._protocol.wire import field_path

from ..store.identities import REFUSED, Token
from . import roles
from .draining import DRAINING
from .errors import ApiError, Forbidden, InvalidRequest, Stopping, Unauthorized

log = logging.getLogger("gworker.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = {"/v1/health"}
TOKEN_HINT = (
    "Use the token in GW_HOME/token.json (the local server writes it on first start), set"
    " GW_TOKEN_ID and GW_TOKEN_SECRET, or create one with `gw token new`."
)


R = TypeVar("R", bound=Record)


def reply(value: Any, status: int = 200) -> web.Response:
    """A msgpack body of plain data or of protocol records."""
    return web.Response(body=to_wire(value), status=status, content_type="application/msgpack")


async def decode(request: web.Request, kind: type[R]) -> R:
    """The request body as a ``kind`` record, validated; a bad body is a 400 naming the field."""
    raw = await request.read()
    try:
        return from_wire(raw or b"\x80", kind)  # an empty body is an empty map
    except msgspec.ValidationError as e:
        message, _, path = str(e).rpartition(" - at `")
        where = f" at {field_path(kind, path.rstrip('`'))}" if path and message else ""
        raise InvalidRequest(f"bad {kind.__name__} request: {message or e}{where}") from None
    except msgspec.DecodeError as e:
        raise InvalidRequest(f"request body is not valid msgpack: {e}") from None


async def body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        value = msgpack.unpackb(raw, raw=False)
    except Exception as e:
        raise InvalidRequest(f"request body is not valid msgpack: {e}") from None
    if not isinstance(value, dict):
        raise InvalidRequest("request body must be a map")
    return value


def req_environment(req: dict[str, Any]) -> str:
    """The request's ``environment`` (default ``main``)."""
    env = req.get("environment") or "main"
    if not isinstance(env, str) or len(env) > 64:
        raise InvalidRequest(f"environment {env!r:.80} must be a string of at most 64 characters")
    return env


def req_name(req: dict[str, Any], kind: str) -> str:
    """The request's ``name`` of a named object (a dict, queue, secret, volume), checked."""
    name = req.get("name")
    problem = name_problem(kind, name)
    if problem:
        raise InvalidRequest(problem)
    assert isinstance(name, str)  # name_problem checked it
    return name


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def query_float(request: web.Request, name: str, default: float, high: float) -> float:
    """A number from the query string, clamped to ``[0, high]``; NaN or junk is a 400."""
    try:
        value = float(request.query.get(name, default))
    except ValueError:
        bad = request.query[name]
        raise InvalidRequest(f"query parameter {name}={bad!r} is not a number") from None
    if math.isnan(value):
        raise InvalidRequest(f"query parameter {name}=nan is not a number")
    return max(0.0, min(value, high))


def query_int(request: web.Request, name: str, default: int = 0) -> int:
    """A non-negative integer from the query string (one the store can hold)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"query parameter {name}={raw!r} is not an int") from None
    if not 0 <= value <= MAX_INT:
        raise InvalidRequest(f"query parameter {name}={raw!r} must be from 0 to {MAX_INT}")
    return value


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return reply({"error": {"type": e.sdk_type, "message": str(e)}}, status=e.status)
    except (sqlite3.OperationalError, OSError) as e:
        if not _disk_full(e):
            log.exception("unhandled error in %s %s", request.method, request.path)
            return reply({"error": {"type": "Error", "message": f"internal error: {e!r}"}}, 500)
        log.error("disk full in %s %s: %s", request.method, request.path, e)
        message = (
            f"the gworker server's disk is full ({e}); this request was not stored. Free space"
            " under GW_HOME (or delete unused volumes, dicts and queues) and try again"
        )
        return reply({"error": {"type": "Error", "message": message}}, status=507)
    except web.HTTPRequestEntityTooLarge:
        message = (
            f"the request body is over {MAX_REQUEST_BYTES} bytes, the most the API takes (large"
            " arguments and results travel through the blob store; see docs/operations.md)"
        )
        return reply({"error": {"type": "InvalidError", "message": message}}, status=413)
    except web.HTTPException as e:
        return reply({"error": {"type": "Error", "message": e.reason}}, status=e.status)
    except Exception as e:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return reply({"error": {"type": "Error", "message": f"internal error: {e!r}"}}, 500)


def _disk_full(e: BaseException) -> bool:
    if isinstance(e, sqlite3.OperationalError):
        return "full" in str(e)  # SQLITE_FULL: "database or disk is full"
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


def auth_middleware(
    tokens: dict[str, Token],
    container_token: Callable[[str], str | None],
    audit: Callable[[web.Request, int], None],
    container_scope: Callable[[web.Request], Awaitable[None]],
) -> Any:
    """``tokens`` maps user token ids to their records; containers present their own token.
    Each request's role is checked against ``roles.py``; mutating ones, and any refused for
    its token, role or scope (401, 403), go to ``audit``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS:
            if DRAINING.stopping:
                raise Stopping("the gworker server is stopping")
            return await handler(request)
        try:
            _identify(request, tokens, container_token)
        except Unauthorized:
            audit(request, Unauthorized.status)
            raise
        if DRAINING.stopping and request["identity"][0] != "container":
            # containers are still answered: their exit hooks commit volumes and flush outputs
            raise Stopping("the gworker server is stopping; ask again once it is back")
        status = 500
        try:
            await _check(request, container_scope)
            response = await handler(request)
            status = response.status
            return response
        except (ApiError, web.HTTPException) as e:
            status = e.status
            raise
        finally:
            if status in REFUSED or roles.mutating(request.method, request.path):
                audit(request, status)

    return middleware


def _identify(
    request: web.Request, tokens: dict[str, Token], container_token: Callable[[str], str | None]
) -> None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or ":" not in header:
        raise Unauthorized(f"this request carries no gworker token. {TOKEN_HINT}")
    token_id, _, secret = header[7:].partition(":")
    token = tokens.get(token_id)
    if token is not None and hmac.compare_digest(token.secret_hash, hash_secret(secret)):
        if token.revoked:
            raise Unauthorized(f"the gworker token {token_id!r} was revoked. {TOKEN_HINT}")
        request["identity"] = ("user", token_id)
        request["who"], request["role"] = token.user, token.role
    elif container_token(secret) == token_id:
        request["identity"] = ("container", token_id)
        request["who"], request["role"] = f"container {token_id}", roles.CONTAINER_ROLE
    else:
        raise Unauthorized(f"the gworker token {token_id!r} is not valid. {TOKEN_HINT}")


async def _check(
    request: web.Request, container_scope: Callable[[web.Request], Awaitable[None]]
) -> None:
    _check_role(request)
    if request["identity"][0] == "container":
        await container_scope(request)


def _check_role(request: web.Request) -> None:
    needed = roles.required(request.method, request.path)
    if not roles.allows(request["role"], needed):
        raise Forbidden(
            f"{request['who']} has the {request['role']} role; {request.method} {request.path}"
            f" needs {needed} (an admin can give you a token: `gw token new --user NAME --role"
            f" {needed}`)"
        )
