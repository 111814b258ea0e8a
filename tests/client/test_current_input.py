"""gw.current_function_call_id() and gw.current_input_id() inside containers, and outside."""

from __future__ import annotations

import context_app

import gworker_client as gw


def test_a_function_knows_its_call_and_input(server):
    assert gw.current_function_call_id() is None and gw.current_input_id() is None
    with context_app.app.run():
        call = context_app.whoami.spawn()
        call_id, input_id = call.get(timeout=120)
        assert call_id == call.object_id
        assert input_id is not None and input_id.startswith("in-")
        # each spawned call has its own call id and input id
        spawned = [context_app.whoami.spawn() for _ in range(3)]
        ids = [c.get(timeout=120) for c in spawned]
        assert [i[0] for i in ids] == [c.object_id for c in spawned]
        assert len({i[1] for i in ids}) == 3


def test_concurrent_async_and_threaded_inputs_see_their_own(server):
    with context_app.app.run():
        calls = [context_app.whoami_async.spawn() for _ in range(4)]
        assert [c.get(timeout=120)[0] for c in calls] == [c.object_id for c in calls]
        threads = context_app.Threads()
        calls = [threads.whoami.spawn() for _ in range(4)]
        assert [c.get(timeout=120)[0] for c in calls] == [c.object_id for c in calls]
