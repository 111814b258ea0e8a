"""The server validates every body of the call, container and publish routes against the
protocol's records: a bad one is a 400 naming the field, stored nowhere, and harms nothing."""

from __future__ import annotations

import uuid

import protocol_app
import pytest

import gworker_client as gw
from gworker_client import _api


@pytest.fixture(scope="module")
def running(server):
    with protocol_app.app.run():
        yield protocol_app.app


def _new_app(client: _api.Client) -> str:
    resp = client.post("/v1/apps", {"name": "bad-publish", "mode": "deployed"})
    return str(resp["app_id"])


def test_publish_with_an_incomplete_spec_is_refused_before_anything_is_stored(private_server):
    client = _api.client()
    app_id = _new_app(client)
    body = {
        "code_blob": "missing",
        "module": "m",
        "functions": [{"tag": "f", "spec": {"timeout": 3}}],
    }
    with pytest.raises(
        gw.exception.InvalidError,
        match=r"missing required field `cpu`.*"
        r"\$\.functions\[0\]\.spec",
    ):
        client.post(f"/v1/apps/{app_id}/publish", body)
    apps = {a["id"]: a for a in client.get("/v1/apps")["apps"]}
    assert apps[app_id]["functions"] == []
    # the control plane is not harmed: it restarts and runs functions
    private_server.restart()
    _api.reset_client()
    with protocol_app.app.run():
        assert protocol_app.double.remote(21) == 42


def test_publish_with_out_of_range_values_is_refused(server):
    client = _api.client()
    app_id = _new_app(client)
    spec = {
        "timeout": 10.0,
        "cpu": 1.0,
        "memory": 128,
        "min_workers": 5,
        "max_workers": 2,
        "buffer_workers": 0,
        "idle_timeout": 60.0,
        "image": {"version": 1, "layers": []},
    }
    body = {"code_blob": "x", "module": "m", "functions": [{"tag": "f", "spec": spec}]}
    with pytest.raises(gw.exception.InvalidError, match="function 'f': min_workers=5"):
        client.post(f"/v1/apps/{app_id}/publish", body)


def test_container_output_with_a_bad_duration_is_refused_and_harms_nothing(running):
    body = {"outputs": [[1, "success", b"", "x"]], "slots": 0}
    message = protocol_app.bad_poll.remote(body)
    assert "Expected `float`, got `str`" in message
    assert "$.outputs[0].duration" in message
    assert protocol_app.double.remote(4) == 8  # later calls still work


@pytest.mark.parametrize(
    "body, named",
    [
        ({"outputs": [[1, "exploded", b"", 0.1]]}, "$.outputs[0].status"),
        ({"slots": "x"}, "$.slots"),
        ({"slots": -1}, "$.slots"),
    ],
)
def test_bad_polls_name_the_field(running, body, named):
    assert named in protocol_app.bad_poll.remote(body)


@pytest.mark.parametrize(
    "body, named",
    [
        ({"call_id": "nope"}, "$.call_id"),
        ({"call_id": "fc-1", "inputs": [["a", b""]]}, "$.inputs[0].idx"),
        ({"call_id": "fc-1", "inputs": [[0, b""]], "wait": "abc"}, "$.wait"),
        ({"call_id": "fc-1", "total": -3}, "$.total"),
    ],
)
def test_bad_call_bodies_name_the_field(running, body, named):
    fid = protocol_app.double.object_id
    with pytest.raises(gw.exception.InvalidError) as err:
        _api.client().post(f"/v1/functions/{fid}/calls", body)
    assert named in str(err.value)


def test_bad_cancel_and_bind_bodies_name_the_field(running):
    call = protocol_app.double.spawn(1)
    with pytest.raises(gw.exception.InvalidError, match=r"\$\.terminate_containers"):
        _api.client().post(f"/v1/calls/{call.object_id}/cancel", {"terminate_containers": "y"})
    assert call.get(timeout=30) == 2
    fid = protocol_app.double.object_id
    with pytest.raises(gw.exception.InvalidError, match=r"\$\.key"):
        _api.client().post(f"/v1/functions/{fid}/bind", {"params": {}, "key": "short"})
    bind = f"/v1/functions/{fid}/bind"
    key = "0" * 64
    with pytest.raises(gw.exception.InvalidError, match=r"> 0.0 at \$\.overrides\.timeout"):
        _api.client().post(bind, {"key": key, "overrides": {"timeout": -1}})
    with pytest.raises(gw.exception.InvalidError, match=r"'double' takes no parameters"):
        _api.client().post(bind, {"key": key, "params": {"size": 1}})
    with pytest.raises(gw.exception.InvalidError, match=r"with_batching needs a @gw.batched"):
        _api.client().post(
            bind, {"key": key, "overrides": {"batching": {"max_batch_size": 4, "wait_ms": 10}}}
        )
    assert _api.client().post(bind, {"key": key})["function_id"] == fid  # nothing to bind


def test_a_body_that_is_not_msgpack_is_refused(running):
    fid = protocol_app.double.object_id
    call_id = f"fc-{uuid.uuid4().hex}"
    with pytest.raises(gw.exception.InvalidError, match="Expected `object`"):
        _api.client().post(f"/v1/functions/{fid}/calls", [call_id])
