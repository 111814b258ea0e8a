"""What a Ray node measures of one container (``ray_node._Meter``), without Ray: CPU and memory
of its session from /proc (no cgroup here), and the memory in use on its granted GPUs from NVML
(a stand-in pynvml module) where the node's GPUs are real."""

from __future__ import annotations

import os

import pytest

from gworker.backends import ray_node
from gworker.backends.gpus import Grant
from gworker.backends.limits import Limiter


def test_a_container_without_a_cgroup_is_measured_from_its_session() -> None:
    session = os.getsid(0)  # this test's own: it has used CPU and holds memory
    sample = ray_node._Meter("ct-a", session, Limiter(None, []), None).read()
    assert sample is not None and sample.cpu_s > 0 and sample.memory_mib > 0
    assert sample.gpu_memory_mib is None


def test_real_gpus_are_charged_their_memory(nvml, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_node, "_GPU_SOURCE", "NVML")
    meter = ray_node._Meter("ct-a", os.getsid(0), Limiter(None, []), Grant("H100", [1]))
    sample = meter.read()
    assert sample is not None and sample.gpu_memory_mib == pytest.approx(500)


def test_simulated_gpus_have_no_memory_to_measure(nvml, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_node, "_GPU_SOURCE", "none (NVML: no driver)")
    meter = ray_node._Meter("ct-a", os.getsid(0), Limiter(None, []), Grant("A100-80GB", [0]))
    sample = meter.read()
    assert sample is not None and sample.gpu_memory_mib is None
