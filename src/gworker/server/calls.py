"""Routes for function calls: submit inputs, wait for outputs, cancel, stats."""

from __future__ import annotations

from aiohttp import web

from gworker_client._protocol import (
    MAX_WAIT_S,
    AddInputs,
    AddInputsReply,
    BindClass,
    BindReply,
    CallOutput,
    CallOutputs,
    CancelCall,
    CreateCall,
    InputItem,
)
from gworker_client._protocol.limits import blob_digest

from . import scope
from .call_graph import check_parent, record_parent
from .errors import InvalidRequest
from .http import decode, query_float, query_int, reply
from .state import State

routes = web.RouteTableDef()


def _items(state: State, inputs: list[InputItem]) -> list[tuple[int, bytes]]:
    """The inputs as ``(idx, args)``; a reference to a blob the server lacks is a 400 (the
    blob was never uploaded, or was deleted as unreferenced after its grace: payloads.py)."""
    for i in inputs:
        digest = blob_digest(i.args)
        if digest is not None and not state.blobs.exists(digest):
            raise InvalidRequest(
                f"inputs[{i.idx}] refers to blob {digest[:80]!r}, which this server does not"
                " have: upload it before the call (PUT /v1/blobs/<digest>?payload=1)"
            )
    return [(i.idx, i.args) for i in inputs]


async def _outputs(
    request: web.Request, call_id: str, after: int, wait: float, awaited: bool = False
) -> web.Response:
    state: State = request.app["state"]
    request.app["retention"].reading(call_id)  # kept while its callers read it (retention.py)
    rows, total = await state.scheduler.wait_outputs(call_id, after, wait)
    if request["identity"][0] == "container":  # large results it may now fetch (scope.py)
        scope.grant_payloads(
            state.scheduler.container(request["identity"][1]), [r[3] for r in rows]
        )
    if state.scheduler.calls.handed_out(call_id, rows):
        state.scheduler.commit_soon()
    if awaited and not rows:
        # the caller will ask for this call by id from now on: it must survive a restart
        state.scheduler.persist_call(call_id)
    # rows are (seq, idx, status, data): the wire's CallOutput rows as they are
    outputs: list[CallOutput] = rows  # type: ignore[assignment]
    return reply(CallOutputs(call_id=call_id, outputs=outputs, total=total))


@routes.post("/v1/functions/{fid}/calls")
async def create_call(request: web.Request) -> web.Response:
    """Create a call with its first inputs; with ``wait``, answer with its outputs when ready."""
    state: State = request.app["state"]
    req = await decode(request, CreateCall)
    check_parent(state, request["identity"], req.parent)
    if request["identity"][0] == "container":  # it may read the outputs of calls it made
        state.scheduler.container(request["identity"][1]).calls.add(req.call_id)
    state.scheduler.submit(
        request.match_info["fid"],
        req.call_id,
        _items(state, req.inputs),
        req.total,
        acknowledge=req.wait <= 0,
        objects=req.objects,
    )
    if req.parent is not None:
        record_parent(state, request["identity"][1], req.call_id, req.parent)
        if req.wait <= 0:  # acknowledged: the link is stored with the call
            state.store.commit()
        else:
            state.scheduler.commit_soon()
    if req.wait <= 0:
        return reply(CallOutputs(call_id=req.call_id, outputs=[], total=req.total))
    return await _outputs(request, req.call_id, 0, min(req.wait, MAX_WAIT_S), awaited=True)


@routes.post("/v1/calls/{call_id}/inputs")
async def add_inputs(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await decode(request, AddInputs)
    call_id = request.match_info["call_id"]
    cs = state.scheduler.submit(
        None, call_id, _items(state, req.inputs), req.total, objects=req.objects
    )
    return reply(AddInputsReply(total=cs.total))


@routes.get("/v1/calls/{call_id}/outputs")
async def outputs(request: web.Request) -> web.Response:
    after = query_int(request, "after")
    wait = query_float(request, "timeout", 0, MAX_WAIT_S)
    return await _outputs(request, request.match_info["call_id"], after, wait)


@routes.post("/v1/calls/{call_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await decode(request, CancelCall)
    state.scheduler.cancel(request.match_info["call_id"], req.terminate_containers)
    return reply({})


@routes.get("/v1/functions/{fid}/stats")
async def stats(request: web.Request) -> web.Response:
    return reply(request.app["state"].scheduler.stats(request.match_info["fid"]))


@routes.post("/v1/functions/{fid}/bind")
async def bind(request: web.Request) -> web.Response:
    """A class bound to one set of parameter values (msgpack primitives, never pickles), or a
    function or class with option overrides (``with_options``)."""
    req = await decode(request, BindClass)
    scheduler = request.app["state"].scheduler
    fid = scheduler.bind(request.match_info["fid"], req.key, req.params, req.overrides)
    return reply(BindReply(function_id=fid))
