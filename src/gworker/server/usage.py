"""Routes for usage and cost: ``GET /v1/usage`` (grouped and priced) and ``GET /v1/usage/prices``.

Prices are read from ``GW_HOME/prices.json`` at each request, so a new price table applies at
once, to the past as well.
"""

from __future__ import annotations

import time
from pathlib import Path

from aiohttp import web

from ..usage import PriceError, Prices, load_prices
from ..usage.report import UsageQueryError, check_by, parse_span, summarize
from .errors import InvalidRequest
from .http import reply
from .state import State

routes = web.RouteTableDef()
_BUCKETS = {"app": 86400, "function": 86400, "gpu": 86400, "day": 86400}


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
        environment=request.query.get("env") or None,
    )
    return reply(summarize(totals, prices_of(request), by, since, until))


@routes.get("/v1/usage/prices")
async def prices(request: web.Request) -> web.Response:
    return reply(prices_of(request).to_json())
