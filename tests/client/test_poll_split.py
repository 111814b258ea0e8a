"""A container's poll splits outputs past one request's limit into polls of their own."""

from __future__ import annotations

from typing import Any

from gworker_client._runtime import channel


def test_large_outputs_go_ahead_in_polls_that_take_nothing(monkeypatch) -> None:
    monkeypatch.setattr(channel, "OUTPUTS_PER_POLL_BYTES", 10)
    sent: list[tuple[list[int], int, float]] = []

    def fake_poll(self: Any, outputs: list[list[Any]], slots: int, wait: float) -> dict[str, Any]:
        sent.append(([o[0] for o in outputs], slots, wait))
        return {"stop": False, "inputs": []}

    monkeypatch.setattr(channel.Channel, "_poll", fake_poll)
    ch = channel.Channel.__new__(channel.Channel)
    outputs = [[i, "success", b"x" * 4, 0.1] for i in range(7)]
    ch.poll(outputs, 3, 25.0)
    # 4 bytes each: at most two fit under 10 bytes; the last poll asks for inputs
    assert sent == [([0, 1], 0, 0), ([2, 3], 0, 0), ([4, 5], 0, 0), ([6], 3, 25.0)]


def test_small_outputs_go_in_one_poll(monkeypatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(channel.Channel, "_poll", lambda self, o, s, w: sent.append(len(o)))
    ch = channel.Channel.__new__(channel.Channel)
    ch.poll([[i, "success", b"x", 0.1] for i in range(100)], 1, 25.0)
    assert sent == [100]
