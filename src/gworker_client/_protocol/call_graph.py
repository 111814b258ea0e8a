"""Records of ``FunctionCall.get_call_graph()``: which input (or web request) made each call.

A container that makes a call while it runs an input names that input as the call's parent
(``ParentInput``, sent with ``CreateCall``); the server keeps the link and answers
``GET /v1/calls/{call_id}/graph`` with every input of the tree the call belongs to, from its
root down, as flat ``GraphInput`` rows the SDK assembles into Modal's ``InputInfo`` tree.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .limits import MAX_INT
from .spec import Record

# a web request has no stored input: its container names it by a call id of its own making
ParentCallId = Annotated[str, msgspec.Meta(pattern="^fc-[0-9a-zA-Z-]{1,64}$")]


class ParentInput(Record, frozen=True):
    """What the calling container was running when it made a call."""

    call_id: ParentCallId
    # the input's id; 0 for a web request, which the server never stored as an input
    input_id: Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)] = 0


class GraphInput(msgspec.Struct, frozen=True, array_like=True):
    """One node of a call graph."""

    input_id: str  # "in-<n>"; a web request's is "in-" + its call id
    function_call_id: str
    task_id: str  # the container that ran (or runs) it; "" before one takes it
    # an OutputStatus value, or "pending" while it waits or runs
    status: str
    function_name: str
    module_name: str
    parent_input_id: str  # "" at the root


class CallGraph(Record, frozen=True):
    """``GET /v1/calls/{call_id}/graph``: the tree's inputs, parents before their children."""

    inputs: list[GraphInput] = []
