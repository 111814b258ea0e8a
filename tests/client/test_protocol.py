"""The wire protocol's records: exports, round trips, and what a bad value is told."""

from __future__ import annotations

import msgspec
import pytest

import gworker_client as gw
from gworker_client import _protocol as protocol
from gworker_client._protocol import (
    ContainerOutput,
    FunctionSpec,
    OutputStatus,
    Poll,
    from_wire,
    spec_problem,
    to_wire,
)

app = gw.App("protocol-unit")


@app.cls(probes=[gw.Probe.on("health")], retries=2, gpu="A100")
class Model:
    size: int = gw.parameter(default=3)

    @gw.method()
    def health(self) -> bool:
        return True

    @gw.batched(max_batch_size=4, wait_ms=10)
    def predict(self, xs: list[int]) -> list[int]:
        return xs


def test_all_is_sorted_and_exported():
    assert protocol.__all__ == sorted(protocol.__all__)
    for name in protocol.__all__:
        assert hasattr(protocol, name)


def test_a_class_spec_survives_the_wire():
    spec = Model._service._spec()
    assert spec.kind == "class" and spec.retries is not None and spec.retries.max_retries == 2
    assert spec.gpu is not None and spec.gpu[0].type == "A100"
    assert spec.methods["predict"].batching == protocol.Batching(max_batch_size=4, wait_ms=10)
    assert [p.name for p in spec.params] == ["size"] and spec.params[0].default == 3
    assert from_wire(to_wire(spec), FunctionSpec) == spec
    assert spec.max_inputs == 4  # the largest batch


def test_a_spec_without_its_image_is_a_problem_at_publish():
    spec = Model._service._spec()
    assert spec_problem(spec) == "image is missing (the SDK sends the spec of the image it built)"
    built = msgspec.structs.replace(spec, image={"version": 1, "layers": []})
    assert spec_problem(built) is None
    too_many = msgspec.structs.replace(built, min_workers=101)
    assert spec_problem(too_many) == "min_workers=101 must be from 0 to max_workers=100"


def test_rows_travel_as_arrays_and_statuses_as_their_values():
    body = Poll(outputs=[ContainerOutput(7, OutputStatus.TIMEOUT, b"x", 0.5)], slots=0)
    assert msgspec.msgpack.decode(to_wire(body)) == {
        "outputs": [[7, "timeout", b"x", 0.5]],
        "slots": 0,
    }


@pytest.mark.parametrize("status", list(OutputStatus))
def test_only_failures_timeouts_and_deaths_are_retried(status):
    retried = {OutputStatus.FAILURE, OutputStatus.TIMEOUT, OutputStatus.DIED}
    assert status.retryable == (status in retried)


def test_paired_timings_leave_room():
    assert protocol.LONG_POLL_S < protocol.MAX_WAIT_S
    assert protocol.HEARTBEAT_S * 3 <= protocol.CONTAINER_SILENCE_S
    assert protocol.APP_HEARTBEAT_S * 3 <= protocol.EPHEMERAL_APP_SILENCE_S
