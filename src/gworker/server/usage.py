"""Routes for usage and cost: ``GET /v1/usage`` (grouped and priced) and ``GET /v1/usage/prices``.

Prices are read from ``GW_HOME/prices.json`` at each request, so a new price table applies at
once, to the past as well.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiohttp import web

from ..usage import PriceError, Prices, load_prices
from ..usage.report import UsageQueryError, check_by, parse_span, summarize
from . import namespaces
from .call_stats import WINDOW_S, CallStats
from .errors import InvalidRequest, NotFound
from .http import reply
from .state import State

routes = web.RouteTableDef()
_BUCKETS = {"app": 86400, "function": 86400, "gpu": 86400, "day": 86400, "token": 86400}


def prices_of(request: web.Request) -> Prices:
    home: Path = request.app["home"]
    try:
        return load_prices(home)
    except PriceError as e:
        raise InvalidRequest(str(e)) from None


def usage_query(request: web.Request) -> tuple[float, float, str]:
    """``since`` (a span back from now, default 24h) and ``by`` (default app) from the query."""
    q = request.query
    try:
        span = parse_span(q.get("since", "24h"))
        by = check_by(q.get("by", "app"))
    except UsageQueryError as e:
        raise InvalidRequest(str(e)) from None
    now = time.time()
    return now - span, now, by


@routes.get("/v1/usage")
async def usage(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    since, until, by = usage_query(request)
    totals = state.store.usage_totals(
        since,
        until + 1,
        _BUCKETS[by],
        app_name=request.query.get("app") or None,
        # an unknown environment is the same 404 as everywhere (all of them when none is given)
        environment=namespaces.in_query(request) if request.query.get("env") else None,
    )
    return reply(summarize(totals, prices_of(request), by, since, until))


@routes.get("/v1/usage/prices")
async def prices(request: web.Request) -> web.Response:
    return reply(prices_of(request).to_json())


@routes.get("/v1/usage/observed")
async def observed(request: web.Request) -> web.Response:
    """What ``gw advise --app`` adds to its reading of the code: each live function's spec, its
    usage since ``since`` and its recent calls (the call window is the server's memory)."""
    state: State = request.app["state"]
    name = request.query.get("app", "")
    env = request.query.get("env") or "main"
    since, until, _ = usage_query(request)
    app_id = state.store.deployed_app(name, env)
    if app_id is None:
        named = [a for a in state.store.apps(env) if a["name"] == name]
        if not named:
            raise NotFound(f"no app named {name!r} in environment {env!r} (see `gw app list`)")
        app_id = named[-1]["id"]
    usage_rows = {
        r.function: r
        for r in summarize(
            state.store.usage_totals(since, until + 1, 86400, app_name=name, environment=env),
            prices_of(request),
            "function",
            since,
            until,
        ).rows
    }
    stats: CallStats = request.app["call_stats"]
    functions = []
    app = state.store.app(app_id) or {"version": 0}
    for row in sorted(state.store.version_functions(app_id, app["version"]), key=_tag):
        tag, spec = row["tag"], row["spec"]
        functions.append(
            {
                "function": tag,
                "spec": {k: spec.get(k) for k in _SPEC_KEYS},
                "usage": usage_rows.get(tag),
                "calls": stats.summary(app_id, tag, min(until - since, WINDOW_S)),
            }
        )
    return reply(
        {
            "app": name,
            "app_id": app_id,
            "window_s": until - since,
            "call_window_s": min(until - since, WINDOW_S),
            "mean_start_s": state.scheduler.fleet.mean_start_s,
            "functions": functions,
        }
    )


def _tag(row: dict[str, Any]) -> str:
    return str(row["tag"])


_SPEC_KEYS = ("gpu", "cpu", "memory", "min_workers", "idle_timeout", "timeout", "retries")
