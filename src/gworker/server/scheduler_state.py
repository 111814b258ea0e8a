"""What the scheduler holds in memory: inputs, containers, functions and calls.

All of it is rebuilt from the store after a restart; none of it is the source of truth for
anything acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .. import constants as C


@dataclass
class Input:
    id: int
    call_id: str
    idx: int
    function_id: str
    args: bytes
    attempts: int = 0
    replacements: int = 0  # times its container was replaced by a failing liveness probe


@dataclass
class Container:
    id: str
    function: FunctionState
    token: str
    started_at: float = field(default_factory=time.monotonic)
    ready: bool = False  # has polled at least once: start-up finished
    stopping: bool = False
    kill_reason: str | None = None  # the status its leased input gets when killed on purpose
    leased: dict[int, Input] = field(default_factory=dict)
    lease_started: float = 0.0
    last_contact: float = field(default_factory=time.monotonic)
    idle_since: float = field(default_factory=time.monotonic)
    waiter: asyncio.Future[list[Input] | None] | None = None
    slots: int = 1  # inputs the waiting container can take
    failure: str | None = None  # start-up traceback reported by the container
    # a readiness probe holds new inputs back until it passes
    accepting: bool = True
    probe_failures: dict[str, int] = field(default_factory=dict)
    gpu: str | None = None  # the granted GPU type and devices, for status
    # web endpoints: {endpoint name or "": loopback port}, reported once they listen
    web_ports: dict[str, int] = field(default_factory=dict)
    web_requests: int = 0  # the gateway's requests in flight on this container

    @property
    def idle(self) -> bool:
        """Waiting for inputs with none leased and no web request in flight."""
        return not self.leased and not self.web_requests and self.waiter is not None


@dataclass
class FunctionState:
    id: str
    app_id: str
    tag: str
    spec: dict[str, Any]
    module: str
    code_blob: str
    live: bool
    pending: deque[Input] = field(default_factory=deque)
    containers: dict[str, Container] = field(default_factory=dict)
    params: dict[str, Any] | None = None  # a class bound to these parameter values
    mean_run_s: float | None = None
    start_failures: int = 0
    web_waiting: int = 0  # web requests the gateway holds until a container can take them
    start_error: str | None = None  # why its containers last failed to start, for the gateway

    def active(self) -> list[Container]:
        return [c for c in self.containers.values() if not c.stopping]

    def __post_init__(self) -> None:
        concurrency = self.spec.get("concurrency") or {}
        batchings = [self.spec.get("batching")] + [
            m.get("batching") for m in self.spec.get("methods", {}).values()
        ]
        largest_batch = max([b["max_batch_size"] for b in batchings if b] or [1])
        # inputs one container runs at once: its concurrency, or its largest batch
        self.max_inputs: int = max(concurrency.get("max_inputs", 1), largest_batch)
        self.target_inputs: int = concurrency.get("target_inputs") or self.max_inputs
        # web requests one container takes at once, and the autoscaler's aim per container
        self.web_max: int = concurrency.get("max_inputs") or C.WEB_DEFAULT_MAX_INPUTS
        self.web_target: int = concurrency.get("target_inputs") or self.web_max

    def web_load(self) -> int:
        """Web requests in flight or waiting for a container."""
        return self.web_waiting + sum(c.web_requests for c in self.active())


@dataclass
class CallState:
    id: str
    function_id: str
    total: int | None
    done: int
    cancelled: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total
