"""Modal's container options against a real server: containers that retire after max_inputs,
containers without a network, a sized writable layer, and memory-snapshot hooks."""

from __future__ import annotations

import socket
import time
import uuid

import container_options_app as apps
import pytest
from container_options_app import app

import gworker_client as gw


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_single_use_containers_run_one_input_each(server):
    with app.run():
        results = [apps.single.remote(n) for n in range(3)]
    assert [x for x, _ in results] == [0, 1, 2]
    assert len({cid for _, cid in results}) == 3


def test_a_class_retires_each_container_after_one_input_running_its_exit_hooks(server):
    marker = f"oneshot-{uuid.uuid4().hex[:8]}"
    with app.run():
        who = [apps.OneShot(marker=marker).who.remote() for _ in range(3)]
        assert len(set(who)) == 3
        keys = [f"{marker}:{cid}" for cid in who]
        _wait_for(lambda: all(apps.state.get(k) == ["enter", "exit"] for k in keys))
        assert [apps.state.get(k) for k in keys] == [["enter", "exit"]] * 3


def test_a_map_completes_across_retiring_containers(server):
    with app.run():
        results = list(apps.pair.map(range(9)))
    assert [x for x, _ in results] == [2 * n for n in range(9)]
    per_container: dict[str, int] = {}
    for _, cid in results:
        per_container[cid] = per_container.get(cid, 0) + 1
    assert max(per_container.values()) <= 2  # max_inputs=2
    assert len(per_container) >= 5


def test_a_concurrent_container_takes_no_more_than_max_inputs_in_its_life(server):
    with app.run():
        results = list(apps.concurrent_pair.map(range(8)))
    assert [x for x, _ in results] == list(range(8))
    per_container: dict[str, int] = {}
    for _, cid in results:
        per_container[cid] = per_container.get(cid, 0) + 1
    assert max(per_container.values()) <= 2 and len(per_container) >= 4


def test_a_retry_runs_in_a_fresh_container(server):
    key = f"flaky-{uuid.uuid4().hex[:8]}"
    with app.run():
        final = apps.flaky.remote(key)
        attempts = apps.state[key]
    assert len(attempts) == 2 and attempts[0] != attempts[1]
    assert final == attempts[1]


def test_block_network_reaches_only_the_control_plane(server):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    marker = f"offline-{uuid.uuid4().hex[:8]}"
    try:
        with app.run():
            seen = apps.offline.remote(listener.getsockname()[1], marker)
            assert apps.state[marker] == "written from inside"
            assert apps.Offline().interfaces.remote() == "lo"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing came through
    finally:
        listener.close()
    assert seen == {
        "host_listener": "ConnectionRefusedError",
        "dns": "gaierror",
        "interfaces": "lo",
    }


def test_ephemeral_disk_bounds_the_writable_layer(server):
    with app.run():
        in_root = apps.fill_disk.remote("/root/big")
        in_tmp = apps.fill_disk.remote("/tmp/big")
    for written, error in (in_root, in_tmp):
        assert error == "ENOSPC"
        assert 32 <= written < 64  # ephemeral_disk=64 MiB, less what the runtime keeps there


def test_snap_hooks_run_first_at_every_container_start(server):
    with app.run():
        assert apps.Snapped().hooks.remote() == ["snap=True", "snap=False"]


def test_web_endpoints_cannot_block_the_network_nor_retire():
    web_app = gw.App("blocked-web")
    with pytest.raises(gw.exception.InvalidError, match="web endpoint cannot have block_network"):

        @web_app.function(block_network=True)
        @gw.fastapi_endpoint()
        def page() -> str:
            return "hi"

    with pytest.raises(gw.exception.InvalidError, match="web endpoint cannot have block_network"):

        @web_app.cls(block_network=True)
        class Pages:
            @gw.fastapi_endpoint()
            def page(self) -> str:
                return "hi"

    with pytest.raises(gw.exception.InvalidError, match=r"cannot have max_inputs=1 \(or single"):

        @web_app.function(single_use_containers=True)
        @gw.fastapi_endpoint()
        def counted() -> str:
            return "hi"
