"""Who may name a call's parent input (``server/call_graph.check_parent``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gworker.server.call_graph import check_parent
from gworker.server.errors import InvalidRequest, NotFound
from gworker_client._protocol import ParentInput


def _state(leased: dict[int, str], known_calls: set[str]) -> SimpleNamespace:
    container = SimpleNamespace(
        id="ct-1", leased={iid: SimpleNamespace(call_id=cid) for iid, cid in leased.items()}
    )

    def get(call_id: str) -> object:
        if call_id not in known_calls:
            raise NotFound(call_id)
        return object()

    calls = SimpleNamespace(get=get)
    return SimpleNamespace(scheduler=SimpleNamespace(container=lambda cid: container, calls=calls))


def test_a_container_names_an_input_it_runs_or_a_request_of_its_own():
    state = _state({7: "fc-a"}, {"fc-a"})
    me = ("container", "ct-1")
    check_parent(state, me, None)  # type: ignore[arg-type]
    check_parent(state, me, ParentInput(call_id="fc-a", input_id=7))  # type: ignore[arg-type]
    check_parent(state, me, ParentInput(call_id="fc-web1"))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="in-8 of fc-a is not running in container ct-1"):
        check_parent(state, me, ParentInput(call_id="fc-a", input_id=8))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="is not running"):
        check_parent(state, me, ParentInput(call_id="fc-b", input_id=7))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="names a function call, not a web request"):
        check_parent(state, me, ParentInput(call_id="fc-a"))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="only a container"):
        check_parent(state, ("token", "tk-1"), ParentInput(call_id="fc-a"))  # type: ignore[arg-type]
