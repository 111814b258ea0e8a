"""``FunctionCall.get_call_graph()``: the tree of inputs a call belongs to, as Modal draws it.

A container that makes a call names the input it runs (or, from a web endpoint, the request it
serves) as the call's parent; this module keeps that link (``store.call_graph``), notes which
container ran each input of a linked call and how it ended, and answers the graph: from the
tree's root down, each call's inputs with their status and task, each call under the input that
made it. A web request is never stored as an input: it appears as one node, named by the call
id its container gave it, whose status stays pending (the server does not follow requests); an
awaited call the server has answered and forgotten shows the inputs that made calls.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator

from aiohttp import web

from gworker_client._protocol import CallGraph, ContainerOutput, GraphInput, ParentInput

from ..store.call_graph import MAX_GRAPH_INPUTS, CallParent
from .errors import InvalidRequest, NotFound
from .http import reply
from .scheduler.state import FunctionState, Input
from .state import State

routes = web.RouteTableDef()

PENDING = "pending"
# a tree larger than this many calls is cut (a runaway recursion must not stall the server)
MAX_GRAPH_CALLS = 1000

Completed = Callable[[FunctionState, str, Input, ContainerOutput], None]


def check_parent(state: State, identity: tuple[str, str], parent: ParentInput | None) -> None:
    """Refuse a parent the caller does not run, before the call is made: a container names only
    an input it holds now, or a web request of its own (a call id the server never had)."""
    if parent is None:
        return
    if identity[0] != "container":
        raise InvalidRequest(
            f"parent={parent.call_id!r}: only a container names the input that made a call;"
            " leave it out"
        )
    c = state.scheduler.container(identity[1])
    if parent.input_id:
        held = c.leased.get(parent.input_id)
        if held is None or held.call_id != parent.call_id:
            raise InvalidRequest(
                f"parent input in-{parent.input_id} of {parent.call_id} is not running in"
                f" container {c.id}"
            )
        return
    try:
        state.scheduler.calls.get(parent.call_id)
    except NotFound:
        return  # a web request's call id, made up by the container
    raise InvalidRequest(
        f"parent={parent.call_id!r} names a function call, not a web request; give its input"
    )


def record_parent(state: State, container_id: str, call_id: str, parent: ParentInput) -> None:
    """Link a call a container made to the input it runs; the caller commits."""
    c = state.scheduler.container(container_id)
    state.store.add_call_parent(
        CallParent(call_id, parent.call_id, parent.input_id, c.id, c.function.id)
    )
    if parent.input_id:
        state.store.add_input_task(parent.input_id, parent.call_id, c.id, PENDING)


def input_finished(state: State) -> Completed:
    """A completion hook: keep the container and status of each input the graph shows."""

    def completed(fs: FunctionState, container_id: str, inp: Input, out: ContainerOutput) -> None:
        state.store.finish_input_task(inp.id, inp.call_id, container_id, out.status.value)

    return completed


def _root(state: State, call_id: str) -> str:
    seen = {call_id}
    while (link := state.store.call_parent(call_id)) and link.parent_call_id not in seen:
        call_id = link.parent_call_id
        seen.add(call_id)
    return call_id


def _function(state: State, fid: str) -> tuple[str, str]:
    fs = state.scheduler.functions.find(fid)
    if fs is not None:
        return fs.tag, fs.module
    row = state.store.function(fid) or {}
    return row.get("tag", ""), row.get("module", "")


def _call_inputs(state: State, call_id: str) -> tuple[str, list[tuple[int, str | None]]] | None:
    """A call's function and ``(input id, stored status)`` of its inputs; None for a call the
    server never had (a web request's)."""
    book = state.scheduler.calls
    try:
        cs = book.get(call_id)
    except NotFound:
        return None
    awaited = book.awaited.get(call_id)
    if awaited is not None:  # a `.remote()` call only memory holds: its one input
        return cs.function_id, [(awaited.input_id, None)]
    return cs.function_id, state.store.stored_inputs(call_id)


def _status(iid: int, stored: str | None, recorded: str | None, running: bool) -> str:
    if running or iid == 0:  # leased now, or an awaited input not yet taken
        return PENDING
    if stored is not None:
        return stored
    return recorded or PENDING


def _inputs(
    state: State, call_id: str, children: list[CallParent], running: dict[int, str]
) -> Iterator[tuple[int, str, str, str, str]]:
    """``(input id, task id, status, function, module)`` of each input of ``call_id`` the
    graph shows."""
    recorded = state.store.input_tasks(call_id)
    found = _call_inputs(state, call_id)
    if found is None:
        # a call the server does not hold (a web request, or an awaited call answered and
        # forgotten): its inputs are known only from the calls they made
        shown: set[int] = set()
        for child in children:
            iid = child.parent_input_id
            if iid not in shown:
                shown.add(iid)
                task, status = recorded.get(iid) or (child.task_id, PENDING)
                yield iid, task, status, *_function(state, child.function_id)
        return
    fn, module = _function(state, found[0])
    for iid, stored in found[1][:MAX_GRAPH_INPUTS]:
        rec = recorded.get(iid)
        status = _status(iid, stored, rec[1] if rec else None, iid in running)
        yield iid, running.get(iid) or (rec[0] if rec else ""), status, fn, module


def graph(state: State, call_id: str) -> CallGraph:
    state.scheduler.calls.get(call_id)  # a 404 for a call that does not exist
    running = {iid: c.id for c in state.scheduler.fleet.by_id.values() for iid in c.leased}
    out: list[GraphInput] = []
    todo = collections.deque([(_root(state, call_id), "")])  # (call id, parent node)
    seen: set[str] = set()
    while todo and len(seen) < MAX_GRAPH_CALLS:
        cid, parent_node = todo.popleft()
        if cid in seen:
            continue
        seen.add(cid)
        children = state.store.child_calls(cid)
        nodes: dict[int, str] = {}
        for iid, task, status, fn, module in _inputs(state, cid, children, running):
            nodes[iid] = f"in-{iid}" if iid else f"in-{cid}"
            out.append(GraphInput(nodes[iid], cid, task, status, fn, module, parent_node))
        for child in children:
            if child.parent_input_id in nodes:
                todo.append((child.call_id, nodes[child.parent_input_id]))
    return CallGraph(inputs=out)


@routes.get("/v1/calls/{call_id}/graph")
async def call_graph(request: web.Request) -> web.Response:
    return reply(graph(request.app["state"], request.match_info["call_id"]))
