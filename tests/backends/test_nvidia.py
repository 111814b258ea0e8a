"""The host's NVIDIA driver in GPU containers: which files are bound where (a pure unit: the
machine's ldconfig answer is replaced by one naming files the test made)."""

from __future__ import annotations

import os

import pytest

from gworker.backends import nvidia
from gworker.backends.gpus import Grant


@pytest.fixture
def driver(tmp_path, monkeypatch):
    libs = tmp_path / "lib"
    libs.mkdir()
    (libs / "libcuda.so.550.54").write_bytes(b"elf")
    (libs / "libcuda.so.1").symlink_to("libcuda.so.550.54")
    (libs / "libnvidia-ml.so.1").write_bytes(b"elf")
    (libs / "libssl.so.3").write_bytes(b"elf")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nvidia-smi").write_text("#!/bin/sh\n")
    os.chmod(bindir / "nvidia-smi", 0o755)
    entries = [
        ("libcuda.so.1", "libc6,x86-64", str(libs / "libcuda.so.1")),
        ("libcuda.so.1", "libc6", str(libs / "libcuda.so.1")),  # 32-bit: skipped
        ("libnvidia-ml.so.1", "libc6,x86-64", str(libs / "libnvidia-ml.so.1")),
        ("libssl.so.3", "libc6,x86-64", str(libs / "libssl.so.3")),  # not the driver's
    ]
    monkeypatch.setattr(nvidia, "_ldconfig", lambda: entries)
    monkeypatch.setenv("PATH", str(bindir))
    nvidia._driver_files.cache_clear()
    yield libs, bindir
    nvidia._driver_files.cache_clear()


def test_driver_libraries_and_tools_are_bound_for_gpu_containers(driver):
    libs, bindir = driver
    binds = nvidia.driver_binds(Grant("H100", [0]))
    arch = nvidia._multiarch()
    assert {k: v.source for k, v in binds.items()} == {
        f"/usr/lib/{arch}/libcuda.so.1": libs / "libcuda.so.550.54",
        f"/usr/lib/{arch}/libcuda.so": libs / "libcuda.so.550.54",
        f"/usr/lib/{arch}/libnvidia-ml.so.1": libs / "libnvidia-ml.so.1",
        f"/usr/lib/{arch}/libnvidia-ml.so": libs / "libnvidia-ml.so.1",
        "/usr/bin/nvidia-smi": bindir / "nvidia-smi",
    }
    assert not any(m.writable for m in binds.values())


def test_containers_without_a_gpu_get_no_driver(driver):
    assert nvidia.driver_binds(None) == {}
