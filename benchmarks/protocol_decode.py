"""Decoding the warm path's bodies: msgspec straight into validated records, against msgpack into
dicts followed by the hand-written checks the routes did before.

``python benchmarks/protocol_decode.py`` prints microseconds per decode (median of 7 runs) for a
``.remote()`` call body and a container poll carrying one output; no server needed.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from typing import Any

import cloudpickle
import msgpack

from gworker_client._protocol import CreateCall, Poll, from_wire, to_wire

RUNS, NUMBER = 7, 20_000


def _old_call(raw: bytes) -> tuple[str, list[tuple[int, bytes]], Any, float]:
    """What ``server/calls.py`` did per request before the protocol records."""
    req = msgpack.unpackb(raw, raw=False)
    if not isinstance(req, dict):
        raise ValueError("request body must be a map")
    call_id = req.get("call_id")
    if not isinstance(call_id, str) or not call_id.startswith("fc-"):
        raise ValueError(call_id)
    items = [(int(idx), bytes(args)) for idx, args in req.get("inputs") or []]
    total = req.get("total")
    if total is not None and (not isinstance(total, int) or total < 0):
        raise ValueError(total)
    return call_id, items, total, float(req.get("wait") or 0)


def _old_poll(raw: bytes) -> tuple[list[Any], int]:
    req = msgpack.unpackb(raw, raw=False)
    if not isinstance(req, dict):
        raise ValueError("request body must be a map")
    outputs = req.get("outputs") or []
    for _input_id, _status, _data, duration in outputs:
        float(duration)
    return outputs, int(req.get("slots", 1))


def _micros(fn: Callable[[], object]) -> float:
    times = timeit.repeat(fn, number=NUMBER, repeat=RUNS)
    return statistics.median(times) / NUMBER * 1e6


def main() -> None:
    args = cloudpickle.dumps(((21,), {}))
    call = to_wire({"call_id": "fc-" + "0" * 32, "inputs": [[0, args]], "total": 1, "wait": 25.0})
    poll = to_wire({"outputs": [[12345, "success", cloudpickle.dumps(42), 0.0004]], "slots": 1})
    rows = [
        (
            "create call",
            len(call),
            _micros(lambda: _old_call(call)),
            _micros(lambda: from_wire(call, CreateCall)),
        ),
        (
            "container poll",
            len(poll),
            _micros(lambda: _old_poll(poll)),
            _micros(lambda: from_wire(poll, Poll)),
        ),
    ]
    print(f"{'body':<16}{'bytes':>7}{'msgpack+checks µs':>20}{'msgspec µs':>12}{'speed-up':>10}")
    for name, size, old, new in rows:
        print(f"{name:<16}{size:>7}{old:>20.2f}{new:>12.2f}{old / new:>9.1f}x")


if __name__ == "__main__":
    main()
