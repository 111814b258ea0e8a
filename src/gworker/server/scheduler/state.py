"""What the scheduler holds in memory: inputs, containers, functions and calls.

All of it is rebuilt from the store after a restart; none of it is the source of truth for
anything acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gworker_client._protocol import FunctionSpec

from ... import constants as C
from ...backends.base import WebRelay
from ..call_state import CallState as CallState  # calls are the call book's; listed here too


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
    """A running container: the fleet's unit. It serves one function's queue today; nothing in
    its lifecycle (start, contact, probes, exit) depends on what it serves."""

    id: str
    function: FunctionState
    token: str
    started_at: float = field(default_factory=time.monotonic)
    ready: bool = False  # has polled at least once: start-up finished
    stopping: bool = False
    # it was leased its function's ``retire_after`` inputs: it takes no more and stops once
    # they are done (its exit hooks run); the autoscaler no longer counts it
    retiring: bool = False
    inputs_taken: int = 0  # inputs leased to it over its life
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
    node: str | None = None  # the cluster node it runs on (Ray backend), for status
    web_relay: WebRelay | None = None  # how the gateway reaches its web ports on that node
    # set once the backend placed it: its node, web relay and forwards are known from then on
    placed: asyncio.Event = field(default_factory=asyncio.Event)
    # web endpoints: {endpoint name or "": loopback port}, reported once they listen
    web_ports: dict[str, int] = field(default_factory=dict)
    # {its port: the host loopback port forwarded to it} (a network of its own), known once
    # the backend has placed it (``placed``)
    forwards: dict[int, int] = field(default_factory=dict)
    web_requests: int = 0  # the gateway's requests in flight on this container
    # what its token may reach beyond its own app (server/scope.py)
    environment: str | None = None  # its app's, looked up once
    blobs: set[str] = field(default_factory=set)  # uploaded by it, or handed to it by reference
    calls: set[str] = field(default_factory=set)  # calls it made
    objects: set[str] = field(default_factory=set)  # objects passed in its inputs' arguments

    @property
    def idle(self) -> bool:
        """Waiting for inputs with none leased and no web request in flight."""
        return not self.leased and not self.web_requests and self.waiter is not None


@dataclass
class FunctionState:
    id: str
    app_id: str
    tag: str
    spec: FunctionSpec
    module: str
    code_blob: str
    live: bool
    pending: deque[Input] = field(default_factory=deque)
    retrying: set[int] = field(default_factory=set)  # ids of inputs waiting out a retry delay
    containers: dict[str, Container] = field(default_factory=dict)
    params: dict[str, Any] | None = None  # a class bound to these parameter values
    mean_run_s: float | None = None
    start_failures: int = 0
    web_waiting: int = 0  # web requests the gateway holds until a container can take them
    start_error: str | None = None  # why its containers last failed to start, for the gateway

    def active(self) -> list[Container]:
        """Containers that take new inputs (or will, once started)."""
        return [c for c in self.containers.values() if not (c.stopping or c.retiring)]

    @cached_property
    def max_inputs(self) -> int:
        return self.spec.max_inputs

    @cached_property
    def target_inputs(self) -> int:
        return self.spec.target_inputs

    @cached_property
    def web_max(self) -> int:
        """Web requests one container takes at once: its concurrency, else a web default."""
        concurrency = self.spec.concurrency
        return concurrency.max_inputs if concurrency else C.WEB_DEFAULT_MAX_INPUTS

    @cached_property
    def web_target(self) -> int:
        """Web requests per container the autoscaler aims for."""
        concurrency = self.spec.concurrency
        return concurrency.target_inputs if concurrency else self.web_max

    def web_load(self) -> int:
        """Web requests in flight or waiting for a container."""
        return self.web_waiting + sum(c.web_requests for c in self.active())

    @property
    def floor(self) -> int:
        """Containers kept however idle: ``min_workers`` while the function is live."""
        return self.spec.min_workers if self.live else 0

    def idle(self) -> list[Container]:
        """Active containers holding no input or web request, waiting for inputs."""
        return [c for c in self.active() if c.idle]
