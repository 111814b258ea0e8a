"""Input queueing and leases against the fake backend: leases, retries with backoff,
cancellation, and a container dying mid-lease. Each test runs in milliseconds."""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from plane import Plane, done

from gworker.server.errors import InvalidRequest
from gworker_client._protocol import Concurrency, GpuRequest, OutputStatus, RetryPolicy


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_the_first_lease_is_one_input_then_about_a_lease_target_of_work(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish(max_workers=1)
            p.submit(fid, 10)
            cid = await p.started()
            first = await p.poll(cid)
            assert first is not None and len(first) == 1  # run time unknown: one at a time
            second = await p.poll(cid, [done(first[0], duration=0.001)])
            assert second is not None and len(second) == 9  # 50 ms of 1 ms inputs, all 9 left

    run(main())


def test_a_concurrent_container_is_leased_its_free_slots(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish(max_workers=1, concurrency=Concurrency(max_inputs=4, target_inputs=4))
            p.submit(fid, 10)
            cid = await p.started()
            lease = await p.poll(cid, slots=3)
            assert lease is not None and len(lease) == 3

    run(main())


def test_outputs_are_recorded_in_the_call(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish()
            call_id = p.submit(fid)
            cid = await p.started()
            [inp] = await p.poll(cid) or []
            await p.poll(cid, [done(inp)], slots=0)
            assert p.outputs(call_id) == [(0, "success", b"result")]

    run(main())


def test_a_failure_is_retried_with_backoff_until_the_policy_is_spent(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            policy = RetryPolicy(max_retries=2, backoff_coefficient=2.0, initial_delay=0.01)
            fid = p.publish(retries=policy)
            call_id = p.submit(fid)
            cid = await p.started()
            [inp] = await p.poll(cid) or []
            attempts = []
            for _ in range(2):
                # the failure goes up with the poll, which waits out the delay for the rerun
                [inp] = await p.poll(cid, [done(inp, OutputStatus.FAILURE)], wait=5) or []
                attempts.append(inp.attempts)
                stored = [row[5] for row in p.store.pending_inputs()]
                assert stored == [inp.attempts]  # a restart keeps the count
            assert attempts == [1, 2]
            await p.poll(cid, [done(inp, OutputStatus.FAILURE)], slots=0)
            assert p.outputs(call_id) == [(0, "failure", b"result")]

    assert [RetryPolicy(max_retries=5, max_delay=3.0).delay(n) for n in (1, 2, 3)] == [1, 2, 3]
    run(main())


def test_statuses_that_are_not_retried(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish(retries=RetryPolicy(max_retries=3, initial_delay=0.0))
            call_id = p.submit(fid)
            cid = await p.started()
            [inp] = await p.poll(cid) or []
            await p.poll(cid, [done(inp, OutputStatus.SERIALIZATION)], slots=0)
            assert p.outputs(call_id)[0][1] == "serialization"

    run(main())


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("exit code 1", "exited unexpectedly (exit code 1)"),
        ("out of memory (limit 128 MiB)", "raise memory="),
    ],
)
def test_a_container_dying_mid_lease_fails_its_running_input(tmp_path, reason, says):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish()
            call_id = p.submit(fid)
            cid = await p.started()
            await p.poll(cid)
            p.backend.exit(cid, reason)
            await asyncio.sleep(0)
            [(_, status, data)] = p.outputs(call_id)
            assert status == "died"
            assert says in msgpack.unpackb(data)["message"]

    run(main())


def test_an_input_of_a_dead_container_is_retried_on_a_new_one(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish(retries=RetryPolicy(max_retries=1, initial_delay=0.0))
            call_id = p.submit(fid)
            first = await p.started()
            [inp] = await p.poll(first) or []
            p.backend.exit(first, "killed by signal SIGSEGV")
            second = await p.started()
            [again] = await p.poll(second) or []
            assert (again.id, again.attempts) == (inp.id, 1)
            await p.poll(second, [done(again)], slots=0)
            assert p.outputs(call_id)[0][1] == "success"

    run(main())


def test_the_unstarted_rest_of_a_dead_containers_lease_goes_back_to_the_front(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish(max_workers=1)
            p.submit(fid, 3)
            cid = await p.started()
            [a] = await p.poll(cid) or []
            rest = await p.poll(cid, [done(a, duration=0.001)])
            assert rest is not None and len(rest) == 2
            p.backend.exit(cid, "exit code 1")
            replacement = await p.started()
            again = await p.poll(replacement)
            # the first was running (it failed); the second had not started: it reruns
            assert again is not None and [i.id for i in again] == [rest[1].id]

    run(main())


def test_cancelling_a_call_fails_its_queued_inputs(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path, capacity=0) as p:  # nothing starts: all inputs stay queued
            fid = p.publish()
            call_id = p.submit(fid, 3)
            p.scheduler.cancel(call_id, terminate_containers=False)
            assert sorted(s for _, s, _ in p.outputs(call_id)) == ["cancelled"] * 3
            with pytest.raises(InvalidRequest, match="was cancelled"):
                p.scheduler.submit(None, call_id, [(3, b"")], None)

    run(main())


def test_a_gpu_request_nothing_can_meet_is_refused_at_submit(tmp_path):
    async def main() -> None:
        async with Plane(tmp_path) as p:
            fid = p.publish(gpu=(GpuRequest(type="H100", count=2),))
            with pytest.raises(InvalidRequest, match="asks for gpu H100:2.*fake backend"):
                p.submit(fid)

    run(main())
