"""Which environment a request names: every route that takes one resolves it here, so an
unknown environment is the same 404 everywhere (naming how to create it)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..store.contract import StateStore
from ..store.environments import DEFAULT_ENVIRONMENT
from .errors import InvalidRequest, NotFound


def require(store: StateStore, name: Any) -> str:
    """The environment a request names (default ``main``); 404 naming how to create it."""
    env = name or DEFAULT_ENVIRONMENT
    if not isinstance(env, str):
        raise InvalidRequest(f"environment {env!r} must be a string")
    if store.environment(env) is None:
        known = ", ".join(e.name for e in store.environments())
        raise NotFound(
            f"no environment named {env!r}: create it with `gw environment create {env}`"
            f" (environments: {known})"
        )
    return env


def in_query(request: web.Request) -> str:
    """``?env=`` of a GET route, resolved with ``require``."""
    return require(request.app["state"].store, request.query.get("env"))
