"""The local GPU inventory: from NVML, or simulated with ``GW_GPUS="A100-80GB:2,H100:1"``.

A container is granted whole devices, never shared; a request is a list of alternatives
(``GpuRequest`` records) tried in order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gworker_client._protocol import KNOWN_TYPES, GpuRequest, matches

# NVML device names -> canonical types, checked in order (the first pattern that matches wins).
_NVML_NAMES = [
    (r"H200", "H200"),
    (r"H100", "H100"),
    (r"B200", "B200"),
    (r"A100.*80\s*GB", "A100-80GB"),
    (r"A100", "A100-40GB"),
    (r"L40S", "L40S"),
    (r"A10G?\b", "A10G"),
    (r"\bL4\b", "L4"),
    (r"\bT4\b", "T4"),
]


@dataclass
class Device:
    index: int
    type: str
    name: str
    holder: str | None = None  # the container using it


@dataclass
class Grant:
    type: str
    indices: list[int]

    @property
    def visible_devices(self) -> str:
        return ",".join(str(i) for i in self.indices)


@dataclass
class GpuInventory:
    devices: list[Device] = field(default_factory=list)
    source: str = "none"
    _nvml_ready: bool = False

    @classmethod
    def detect(cls) -> GpuInventory:
        declared = os.environ.get("GW_GPUS")
        if declared:
            return cls.simulated(declared)
        return cls.from_nvml()

    @classmethod
    def simulated(cls, declared: str) -> GpuInventory:
        devices: list[Device] = []
        for part in filter(None, (p.strip() for p in declared.split(","))):
            name, _, count = part.partition(":")
            kind = name.upper()
            if kind not in KNOWN_TYPES:
                raise ValueError(
                    f"GW_GPUS: unknown GPU type {name!r}; known types: {', '.join(KNOWN_TYPES)}"
                )
            if count and (not count.isdigit() or int(count) < 1):
                raise ValueError(f"GW_GPUS: count in {part!r} must be a positive int")
            for _ in range(int(count or 1)):
                devices.append(Device(len(devices), kind, f"simulated {kind}"))
        return cls(devices, "GW_GPUS (simulated)")

    @classmethod
    def from_nvml(cls) -> GpuInventory:
        try:
            import pynvml
        except ImportError:
            return cls([], "none (nvidia-ml-py is not installed)")
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            return cls([], f"none (NVML: {e})")
        try:
            devices = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
                name = name.decode() if isinstance(name, bytes) else name
                devices.append(Device(i, canonical_type(name), name))
            return cls(devices, "NVML")
        finally:
            pynvml.nvmlShutdown()

    def _free(self, kind: str) -> list[Device]:
        return [d for d in self.devices if d.holder is None and matches(kind, d.type)]

    def can_ever_place(self, request: Sequence[GpuRequest]) -> bool:
        return any(sum(matches(r.type, d.type) for d in self.devices) >= r.count for r in request)

    def has_room(self, request: Sequence[GpuRequest]) -> bool:
        return any(len(self._free(r.type)) >= r.count for r in request)

    def grant(self, request: Sequence[GpuRequest], holder: str) -> Grant | None:
        for r in request:
            free = self._free(r.type)
            if len(free) >= r.count:
                chosen = free[: r.count]
                for d in chosen:
                    d.holder = holder
                return Grant(chosen[0].type, [d.index for d in chosen])
        return None

    def release(self, holder: str) -> None:
        for d in self.devices:
            if d.holder == holder:
                d.holder = None

    def memory_used_mib(self, holder: str) -> float | None:
        """GPU memory in use on the devices ``holder`` holds (whole devices, so all of it is
        theirs), from NVML; None when it cannot be measured (simulated GPUs, no NVML)."""
        held = [d.index for d in self.devices if d.holder == holder]
        if not held or self.source != "NVML":
            return None
        try:
            import pynvml

            if not self._nvml_ready:
                pynvml.nvmlInit()  # kept open while the server lives: one init, many reads
                self._nvml_ready = True
            used = 0
            for i in held:
                used += pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).used
        except Exception:  # a driver hiccup must not stop metering: report nothing this time
            return None
        return used / (1024 * 1024)

    def summary(self) -> str:
        if not self.devices:
            return f"no GPUs (inventory: {self.source})"
        counts: dict[str, int] = {}
        for d in self.devices:
            counts[d.type] = counts.get(d.type, 0) + 1
        return ", ".join(f"{n}x {t}" for t, n in counts.items())

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"index": d.index, "type": d.type, "name": d.name, "container": d.holder}
            for d in self.devices
        ]


def canonical_type(nvml_name: str) -> str:
    for pattern, kind in _NVML_NAMES:
        if re.search(pattern, nvml_name, re.I):
            return kind
    return nvml_name
