"""GPU memory in use per container, from NVML (a stand-in pynvml module: no GPU needed)."""

from __future__ import annotations

import pytest

from gworker.backends.gpus import Device, GpuInventory
from gworker_client._protocol import GpuRequest


def test_a_container_is_charged_the_memory_of_its_own_devices(nvml: dict[int, int]) -> None:
    inventory = GpuInventory([Device(i, "H100", "NVIDIA H100") for i in range(3)], "NVML")
    inventory.grant([GpuRequest("H100", 2)], "ct-a")  # devices 0 and 1
    assert inventory.memory_used_mib("ct-a") == pytest.approx(3500)
    assert inventory.memory_used_mib("ct-none") is None  # holds no device


def test_simulated_gpus_have_no_memory_to_measure(nvml: dict[int, int]) -> None:
    inventory = GpuInventory.simulated("A100-80GB:1")
    inventory.grant([GpuRequest("A100-80GB", 1)], "ct-a")
    assert inventory.memory_used_mib("ct-a") is None
