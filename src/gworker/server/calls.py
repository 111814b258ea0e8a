"""Routes for function calls: submit inputs, wait for outputs, cancel, stats."""

from __future__ import annotations

from aiohttp import web

from .errors import InvalidRequest
from .http import body, query_float, query_int, reply
from .state import State

routes = web.RouteTableDef()
MAX_WAIT_S = 60.0


def _items(req: dict) -> list[tuple[int, bytes]]:
    inputs = req.get("inputs") or []
    try:
        return [(int(idx), bytes(args)) for idx, args in inputs]
    except (TypeError, ValueError):
        raise InvalidRequest("inputs must be a list of [index, bytes] pairs") from None


def _total(req: dict) -> int | None:
    total = req.get("total")
    if total is not None and (not isinstance(total, int) or total < 0):
        raise InvalidRequest(f"total={total!r} must be a non-negative int")
    return total


async def _answer(state: State, call_id: str, wait: float) -> web.Response:
    calls = state.scheduler.calls
    rows, total = await calls.wait(call_id, 0, wait)
    if not rows and call_id in calls.awaited:
        # the caller will ask for this call by id from now on: it must survive a restart
        calls.persist(call_id)
        state.store.commit()
    return reply({"call_id": call_id, "outputs": rows, "total": total})


@routes.post("/v1/functions/{fid}/calls")
async def create_call(request: web.Request) -> web.Response:
    """Create a call with its first inputs; with ``wait``, answer with its outputs when ready."""
    state: State = request.app["state"]
    req = await body(request)
    call_id = req.get("call_id")
    if not isinstance(call_id, str) or not call_id.startswith("fc-"):
        raise InvalidRequest(f"call_id={call_id!r} must be a string starting with 'fc-'")
    wait = float(req.get("wait") or 0)
    state.scheduler.submit(
        request.match_info["fid"], call_id, _items(req), _total(req), acknowledge=wait <= 0
    )
    if wait <= 0:
        return reply({"call_id": call_id, "outputs": [], "total": _total(req)})
    return await _answer(state, call_id, min(wait, MAX_WAIT_S))


@routes.post("/v1/calls/{call_id}/inputs")
async def add_inputs(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await body(request)
    cs = state.scheduler.submit(None, request.match_info["call_id"], _items(req), _total(req))
    return reply({"total": cs.total})


@routes.get("/v1/calls/{call_id}/outputs")
async def outputs(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    call_id = request.match_info["call_id"]
    rows, total = await state.scheduler.calls.wait(
        call_id, query_int(request, "after"), query_float(request, "timeout", 0, MAX_WAIT_S)
    )
    return reply({"call_id": call_id, "outputs": rows, "total": total})


@routes.post("/v1/calls/{call_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await body(request)
    state.scheduler.cancel(request.match_info["call_id"], bool(req.get("terminate_containers")))
    return reply({})


@routes.get("/v1/functions/{fid}/stats")
async def stats(request: web.Request) -> web.Response:
    return reply(request.app["state"].scheduler.stats(request.match_info["fid"]))


@routes.post("/v1/functions/{fid}/bind")
async def bind(request: web.Request) -> web.Response:
    """A class bound to one set of parameter values (msgpack primitives, never pickles)."""
    req = await body(request)
    params, key = req.get("params"), req.get("key")
    if not isinstance(params, dict) or not isinstance(key, str) or len(key) != 64:
        raise InvalidRequest("bind needs params (a map) and key (a sha256 hex digest)")
    fid = request.app["state"].scheduler.bind(request.match_info["fid"], key, params)
    return reply({"function_id": fid})
