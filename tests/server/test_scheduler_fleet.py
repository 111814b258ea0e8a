"""The container fleet against the fake backend: probes, start-up failures, idle scale-down,
backstop timeouts and restarts. Each test runs in milliseconds."""

from __future__ import annotations

import asyncio
import time

import msgpack
from plane import Plane, done

from gworker_client._protocol import MethodSpec, ProbeResult, ProbeSpec

CLASS = {"kind": "class", "methods": {"run": MethodSpec(), "health": MethodSpec()}}


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def fail(method: str = "health", kind: str = "liveness", ok: bool = False) -> ProbeResult:
    return ProbeResult(method=method, kind=kind, ok=ok)  # type: ignore[arg-type]


def test_failing_liveness_probes_replace_the_container_and_rerun_its_input(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish(**CLASS, probes=(ProbeSpec(method="health", failures=2),))
            p.submit(fid)
            first = await p.started()
            [inp] = await p.poll(first) or []
            p.scheduler.probe_result(first, fail())
            assert p.backend.stops == []  # one failure is not enough
            p.scheduler.probe_result(first, fail())
            await asyncio.sleep(0)  # the kill is a task of its own
            assert p.backend.stops == [(first, True)]
            second = await p.started()
            [again] = await p.poll(second) or []
            assert (again.id, again.replacements) == (inp.id, 1)

    run(main())


def test_a_passing_probe_resets_the_count(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish(**CLASS, probes=(ProbeSpec(method="health", failures=2),))
            p.submit(fid)
            cid = await p.started()
            await p.poll(cid)
            for ok in (False, True, False):
                p.scheduler.probe_result(cid, fail(ok=ok))
            await asyncio.sleep(0)
            assert p.backend.stops == []

    run(main())


def test_a_readiness_probe_holds_inputs_back_until_it_passes(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            probe = ProbeSpec(method="health", kind="readiness", failures=1)
            fid = p.publish(**CLASS, probes=(probe,))
            p.submit(fid)
            cid = await p.started()
            assert await p.poll(cid, wait=0.01) == []  # not ready: nothing leased
            waiting = asyncio.ensure_future(p.poll(cid, wait=5))
            await asyncio.sleep(0)
            p.scheduler.probe_result(cid, fail(kind="readiness", ok=True))
            lease = await waiting
            assert lease is not None and len(lease) == 1

    run(main())


def test_containers_that_fail_to_start_fail_the_queue_after_three_tries(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish()
            call_id = p.submit(fid)
            for _ in range(3):
                cid = await p.started()
                p.scheduler.container_failed(cid, "ImportError: no module named m")
                p.backend.exit(cid, "exit code 1")
                await asyncio.sleep(0)
            [(_, status, data)] = p.outputs(call_id)
            assert status == "internal"
            assert "ImportError: no module named m" in msgpack.unpackb(data)["message"]

    run(main())


def test_an_idle_container_stops_after_the_idle_timeout_but_not_below_the_floor(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish(min_workers=1, idle_timeout=10.0)
            kept = await p.started()
            fid2 = p.publish(idle_timeout=10.0)
            p.submit(fid2)
            idle = await p.started()
            [inp] = await p.poll(idle) or []
            waiting = asyncio.ensure_future(p.poll(idle, [done(inp)], wait=5))
            kept_waiting = asyncio.ensure_future(p.poll(kept, wait=5))
            await asyncio.sleep(0)
            later = time.monotonic() + 60
            for f in (fid, fid2):
                p.scheduler.fleet.sweep(p.function(f), later)
            assert await waiting is None  # told to stop
            assert not kept_waiting.done()  # min_workers=1 keeps it
            kept_waiting.cancel()

    run(main())


def test_a_container_past_its_inputs_timeout_is_killed_and_the_input_times_out(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish(timeout=1.0)
            call_id = p.submit(fid)
            cid = await p.started()
            await p.poll(cid)
            p.scheduler.fleet.sweep(p.function(fid), time.monotonic() + 30)
            await asyncio.sleep(0)  # the kill is a task of its own
            assert p.backend.stops == [(cid, True)]
            await asyncio.sleep(0)
            [(_, status, data)] = p.outputs(call_id)
            assert (
                status == "timeout" and "timed out after 1.0s" in msgpack.unpackb(data)["message"]
            )

    run(main())


def test_a_heartbeat_tells_a_stopping_container_to_stop(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish()
            p.submit(fid)
            cid = await p.started()
            await p.poll(cid)
            assert p.scheduler.heartbeat(cid) is False
            p.scheduler.stop_app(p.function(fid).app_id)
            assert p.scheduler.heartbeat(cid) is True

    run(main())


def test_a_restart_reaps_the_old_containers_and_requeues_their_inputs(tmp_path):
    async def first() -> tuple[str, str]:
        async with Plane(tmp_path) as p:
            fid = p.publish()
            call_id = p.submit(fid)
            cid = await p.started()
            await p.poll(cid)
            p.backend.running.clear()  # the server dies: its containers are not told
            return cid, call_id

    async def second(old: str, call_id: str) -> None:
        async with Plane(tmp_path) as p:
            assert [cid for cid, _ in p.backend.reaped] == [old]
            cid = await p.started()
            [inp] = await p.poll(cid) or []
            await p.poll(cid, [done(inp)], slots=0)
            assert p.outputs(call_id)[0][1] == "success"

    run(second(*run(first())))


def test_a_stored_spec_this_version_cannot_read_never_stops_a_restart(tmp_path, caplog):
    async def first() -> None:
        async with Plane(tmp_path) as p:
            good = p.publish()
            app_id = p.function(good).app_id
            p.store.add_function("fu-bad", app_id, "bad", 1, "m", "blob", {"timeout": 3})
            p.store.commit()

    async def second() -> None:
        async with Plane(tmp_path) as p:
            [fs] = list(p.scheduler.functions)
            call_id = p.submit(fs.id)
            cid = await p.started()
            [inp] = await p.poll(cid) or []
            await p.poll(cid, [done(inp)], slots=0)
            assert p.outputs(call_id)[0][1] == "success"

    run(first())
    run(second())
    assert "fu-bad (bad) has an unreadable spec" in caplog.text
