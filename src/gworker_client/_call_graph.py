"""``FunctionCall.get_call_graph()``'s answer: Modal's ``InputInfo`` tree (``modal.call_graph``).

The server answers with flat rows, parents first (``_protocol.call_graph``); this module turns
them into the tree, as Modal's client does with its server's answer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ._protocol import CallGraph, OutputStatus


class InputStatus(enum.IntEnum):
    """How an input of a call graph stands (Modal's numbering)."""

    PENDING = 0  # waiting for a container, or running
    SUCCESS = 1
    FAILURE = 2  # raised, returned what cannot be pickled, or its container died
    INIT_FAILURE = 3  # its containers could not start
    TERMINATED = 4  # cancelled, or its app was stopped
    TIMEOUT = 5

    @classmethod
    def _missing_(cls, value: object) -> InputStatus:
        return cls.PENDING


_FROM_OUTPUT = {
    OutputStatus.SUCCESS.value: InputStatus.SUCCESS,
    OutputStatus.FAILURE.value: InputStatus.FAILURE,
    OutputStatus.SERIALIZATION.value: InputStatus.FAILURE,
    OutputStatus.DIED.value: InputStatus.FAILURE,
    OutputStatus.TIMEOUT.value: InputStatus.TIMEOUT,
    OutputStatus.CANCELLED.value: InputStatus.TERMINATED,
    OutputStatus.STOPPED.value: InputStatus.TERMINATED,
    OutputStatus.INTERNAL.value: InputStatus.INIT_FAILURE,
}


@dataclass
class InputInfo:
    """One input of a call graph, and the inputs of the calls it made."""

    input_id: str
    function_call_id: str
    task_id: str  # the container that ran it ("" while it waits for one)
    status: InputStatus
    function_name: str
    module_name: str
    children: list[InputInfo] = field(default_factory=list)


def assemble(graph: CallGraph) -> list[InputInfo]:
    """The tree's roots; each row's parent comes before it."""
    by_id: dict[str, InputInfo] = {}
    roots: list[InputInfo] = []
    for row in graph.inputs:
        info = InputInfo(
            row.input_id,
            row.function_call_id,
            row.task_id,
            _FROM_OUTPUT.get(row.status, InputStatus.PENDING),
            row.function_name,
            row.module_name,
        )
        by_id[row.input_id] = info
        parent = by_id.get(row.parent_input_id)
        if parent is not None:
            parent.children.append(info)
        elif not row.parent_input_id:
            roots.append(info)
    return roots


def decode(resp: Any) -> list[InputInfo]:
    from ._protocol import from_builtins

    return assemble(from_builtins(resp, CallGraph))
