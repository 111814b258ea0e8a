"""Limits (``gworker_client/_protocol/limits.py``): large arguments and results travel through
the blob store; oversized, overflowing or malformed requests are refused with a 400 or 413
naming the problem, and nothing is stored for them."""

from __future__ import annotations

import math
import sqlite3
import urllib.error
import urllib.request
import uuid
from typing import Any

import msgpack
import pytest
from limits_app import app, backlog_app, echo, square

import gworker_client as gw
from gworker_client._protocol.limits import MAX_INLINE_BYTES, MAX_REQUEST_BYTES


def raw(server, method: str, path: str, data: bytes | None = None) -> tuple[int, Any]:
    env = server.env
    req = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {env['GW_TOKEN_ID']}:{env['GW_TOKEN_SECRET']}",
            "Content-Type": "application/msgpack",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, msgpack.unpackb(resp.read(), raw=False)
    except urllib.error.HTTPError as e:
        return e.code, msgpack.unpackb(e.read(), raw=False)


def message(reply: Any) -> str:
    return reply["error"]["message"]


@pytest.fixture(scope="module")
def running(server):
    with app.run():
        yield echo.object_id


def test_large_arguments_and_results_travel_through_the_blob_store(server, running):
    marker = uuid.uuid4().bytes * 4
    big = marker + bytes(range(256)) * (MAX_INLINE_BYTES // 256 + 4096)  # past the inline limit
    assert echo.remote(big) == big + b"!"
    call = echo.spawn(big)  # a stored call: its input (committed before the spawn returns)
    assert call.get() == big + b"!"  # and its output hold a reference, not the value
    for name in ("state.db", "state.db-wal"):
        path = server.home / name
        assert not path.exists() or marker not in path.read_bytes(), name


def _call(fid: str, inputs: list[Any], **extra: Any) -> bytes:
    body = {"call_id": f"fc-{uuid.uuid4().hex}", "inputs": inputs, **extra}
    return msgpack.packb(body, use_bin_type=True)


def test_no_request_expands_into_a_larger_stored_value(server, running):
    fid = running
    status, reply = raw(server, "POST", f"/v1/functions/{fid}/calls", _call(fid, [[0, 20_000_000]]))
    assert status == 400 and "args" in message(reply), reply
    too_big = b"x" * (MAX_INLINE_BYTES + 1)
    status, reply = raw(server, "POST", f"/v1/functions/{fid}/calls", _call(fid, [[0, too_big]]))
    assert status == 400 and "args" in message(reply), reply


def test_bad_numbers_and_junk_bodies_are_400s(server, running):
    fid = running
    for extra in ({"wait": "abc"}, {"wait": math.nan}, {"total": 2**63}, {"total": -1}):
        status, reply = raw(server, "POST", f"/v1/functions/{fid}/calls", _call(fid, [], **extra))
        assert status == 400, (extra, reply)
    call = echo.spawn(b"x")
    call.get()
    for query in ("after=18446744073709551616", "after=9223372036854775808", "timeout=nan"):
        status, reply = raw(server, "GET", f"/v1/calls/{call.object_id}/outputs?{query}")
        assert status == 400 and query.split("=")[0] in message(reply), (query, reply)
    digest = "0" * 64
    for junk in (b"", b"\xc1", b"\x93\x01\x02\x03", b"\xc4\x05abc", b"\xc4\x01ab"):
        status, reply = raw(server, "PUT", f"/v1/blobs/{digest}", junk)
        assert status == 400, (junk, reply)
    status, reply = raw(server, "PUT", "/v1/blobs/not-a-digest", msgpack.packb(b"abc"))
    assert status == 400, reply


def test_a_body_past_the_request_limit_is_a_413(server, running):
    fid = running
    body = b"\x00" * (MAX_REQUEST_BYTES + 1)
    status, reply = raw(server, "POST", f"/v1/functions/{fid}/calls", body)
    assert status == 413 and str(MAX_REQUEST_BYTES) in message(reply), reply


@pytest.fixture
def small_backlog_server(own_server):
    """A server of the test's own that holds at most 5 pending inputs per function."""
    return own_server({"GW_MAX_PENDING_INPUTS": "5"})


def test_pending_inputs_per_function_are_bounded(small_backlog_server):
    srv = small_backlog_server
    with backlog_app.run():
        fid = square.object_id
        body = _call(fid, [[i, msgpack.packb(i)] for i in range(6)])
        status, reply = raw(srv, "POST", f"/v1/functions/{fid}/calls", body)
        assert status == 413 and "at most 5" in message(reply), reply
        db = sqlite3.connect(srv.home / "state.db")
        assert db.execute("SELECT count(*) FROM inputs").fetchone() == (0,)  # nothing stored
        assert list(square.map(range(5))) == [0, 1, 4, 9, 16]  # within the limit: runs


def test_untyped_bodies_refuse_nan_overflow_and_junk(server, running):
    vol = gw.Volume.from_name(f"limits-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    d = gw.Dict.from_name(f"limits-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    q = gw.Queue.from_name(f"limits-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    sha = "0" * 64
    cases = [
        (f"/v1/volumes/{vol.object_id}/commit", {"changes": [["/a", sha, 1, 0o644, math.nan]]}),
        (f"/v1/volumes/{vol.object_id}/commit", {"changes": [["/a", sha, 2**63, 0o644, 1.0]]}),
        (f"/v1/dicts/{d.object_id}/put", {"items": [[b"k", b"v"]], "ttl": math.nan}),
        ("/v1/images/build", {"spec": {}, "app_id": "ap-x", "after": "abc"}),
        ("/v1/images/build", {"spec": {}, "app_id": "ap-x", "timeout": math.nan}),
        ("/v1/apps", {"name": "x", "mode": "ephemeral", "environment": [1, 2]}),
        ("/v1/apps/lookup", {"name": "x", "environment": {"a": 1}}),
        (f"/v1/queues/{q.object_id}/peek", {"after": 2**64 - 1}),
        (f"/v1/volumes/{vol.object_id}/commit", {"id": "0" * 32, "deletions": 5}),
    ]
    for path, body in cases:
        status, reply = raw(server, "POST", path, msgpack.packb(body, use_bin_type=True))
        assert status == 400, (path, body, reply)
