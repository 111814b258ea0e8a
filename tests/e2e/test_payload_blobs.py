"""Large arguments and results leave the blob store once nothing refers to them
(``server/payloads.py``), on a server of the test's own with a short grace and sweep period
(``GW_BLOB_GRACE_S``, ``GW_BLOB_SWEEP_S``)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import uuid
from pathlib import Path

import payload_app
import pytest
from payload_app import app

import gworker_client as gw
from gworker_client import _api
from gworker_client._protocol.limits import MAX_INLINE_BYTES

SHORT = {"GW_BLOB_GRACE_S": "1", "GW_BLOB_SWEEP_S": "0.2"}


@pytest.fixture
def sweeping_server(own_server):
    return own_server(SHORT)


def _blobs(home: Path) -> set[str]:
    return {p.name for p in (home / "blobs").glob("??/*") if len(p.name) == 64}


def _big(tag: int) -> bytes:
    return uuid.uuid4().bytes + bytes([tag]) * (MAX_INLINE_BYTES + 1024)


def _until(check, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _tracked(home: Path) -> tuple[int, int]:
    db = sqlite3.connect(f"file:{home / 'state.db'}?mode=ro", uri=True)
    try:
        blobs = db.execute("SELECT count(*) FROM payload_blobs").fetchone()[0]
        holds = db.execute("SELECT count(*) FROM payload_holds").fetchone()[0]
        return blobs, holds
    finally:
        db.close()


def _orphan(payload: bool = True) -> str:
    data = os.urandom(64)
    digest = hashlib.sha256(data).hexdigest()
    _api.client().ensure_blob(digest, data, payload=payload)
    return digest


def test_results_fetched_leave_no_blobs(sweeping_server):
    home = sweeping_server.home
    with app.run():
        before = _blobs(home)  # the app's code bundle, kept
        assert payload_app.grow.remote(_big(1))[-1:] == b"!"
        assert payload_app.grow.spawn(_big(2)).get()[-1:] == b"!"
        inputs = [_big(i) for i in range(3, 6)]
        assert [r[:16] for r in payload_app.grow.map(inputs)] == [i[:16] for i in inputs]
        _until(lambda: _blobs(home) == before, f"payload blobs left: {_blobs(home) - before}")
        assert _tracked(home) == (0, 0)
        assert payload_app.grow.remote(b"small") == b"small!"  # the code bundle is still there


def test_an_orphan_upload_is_collected_and_other_blobs_are_kept(sweeping_server):
    home = sweeping_server.home
    orphan, kept = _orphan(), _orphan(payload=False)
    assert {orphan, kept} <= _blobs(home)
    _until(lambda: orphan not in _blobs(home), "the orphan payload blob was never deleted")
    assert kept in _blobs(home)


def test_a_queued_input_keeps_its_blob_across_a_restart_and_a_restore(sweeping_server, tmp_path):
    srv, gate = sweeping_server, f"gate-{uuid.uuid4().hex[:8]}"
    q = gw.Queue.from_name(gate, create_if_missing=True)
    assert q.len() == 0  # made now, for the containers to find by name
    with app.run():
        before = _blobs(srv.home)
        running = payload_app.gated.spawn(_big(1), gate)  # holds the one container
        queued = payload_app.gated.spawn(_big(2), gate)  # waits behind it
        held = _blobs(srv.home) - before
        assert len(held) == 2
        # a sweep past the grace ran (it took the orphan), and the inputs' blobs stayed
        orphan = _orphan()
        _until(lambda: orphan not in _blobs(srv.home), "no sweep ran")
        assert held <= _blobs(srv.home)
        r = srv.gw("server", "backup", str(tmp_path / "backup"))
        assert r.returncode == 0, r.stderr
        srv.kill()
        for digest in held:  # lost with the machine: the restore brings them back
            (srv.home / "blobs" / digest[:2] / digest).unlink()
        r = srv.gw("server", "restore", str(tmp_path / "backup"))
        assert r.returncode == 0, r.stderr
        srv.restart()
        assert held <= _blobs(srv.home)
        orphan = _orphan()
        _until(lambda: orphan not in _blobs(srv.home), "no sweep ran after the restart")
        assert held <= _blobs(srv.home)
        q.put("go")
        q.put("go")
        assert running.get(timeout=120) == len(_big(1))
        assert queued.get(timeout=120) == len(_big(2))
        _until(lambda: not (held & _blobs(srv.home)), "the inputs' blobs outlived their calls")
        assert _tracked(srv.home) == (0, 0)


def test_a_result_fetched_and_collected_is_an_expired_output(sweeping_server):
    home = sweeping_server.home
    with app.run():
        before = _blobs(home)
        call = payload_app.grow.spawn(_big(7))
        assert call.get()[-1:] == b"!"
        _until(lambda: _blobs(home) == before, "the result's blob was never deleted")
        with pytest.raises(gw.exception.OutputExpiredError, match="gone from the server"):
            call.get()


def test_a_retried_input_keeps_its_blob(sweeping_server):
    home, name = sweeping_server.home, uuid.uuid4().hex[:8]
    q = gw.Queue.from_name(f"gate-{name}", create_if_missing=True)
    tries = gw.Dict.from_name(f"tries-{name}", create_if_missing=True)
    assert q.len() == 0 and tries.len() == 0  # made now, for the containers to find by name
    with app.run():
        before = _blobs(home)
        data = _big(9)
        call = payload_app.fails_once.spawn(data, f"gate-{name}", f"tries-{name}")
        held = _blobs(home) - before
        _until(lambda: tries.get("n", 0) >= 2, "the input was never retried")
        orphan = _orphan()
        _until(lambda: orphan not in _blobs(home), "no sweep ran")
        assert held <= _blobs(home)  # the retried input's argument is still there
        q.put("go")
        assert call.get(timeout=120) == len(data)
        _until(lambda: _blobs(home) == before, "the retried input's blob outlived its call")
