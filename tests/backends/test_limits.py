"""Resource limits: memory over the limit is an OOM kill that is detected; the CPU quota holds."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from gworker import isolation
from gworker.backends import limits
from gworker.backends.cgroups import CgroupV1, CgroupV2, Limits

ALLOCATE = "x = bytearray({mib} * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); print('ok')"
BUSY = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < {s}: pass"


@pytest.fixture(scope="module")
def limiter() -> limits.Limiter:
    found = limits.detect()
    print(f"\n[limits] {found.describe()}")
    return found


@pytest.fixture
def cid(limiter: limits.Limiter):
    container_id = f"ct-test-{uuid.uuid4().hex[:12]}"
    yield container_id
    limiter.release(container_id)


def test_this_machine_enforces_limits_with_cgroups(limiter):
    assert limiter.mechanism in ("cgroup-v2", "cgroup-v1"), limiter.describe()
    info = limiter.describe()
    assert "OOM" in info["memory"] and info["cpu"] != "none"


def test_memory_over_the_limit_is_oom_killed_and_detected(limiter, cid, built_image):
    join = limiter.prepare(cid, Limits(memory_mib=64))
    rootfs = built_image.rootfs()
    code = ALLOCATE.format(mib=256)
    argv = isolation.command(built_image, [built_image.python, "-c", code], root=rootfs.merged)

    def preexec() -> None:
        rootfs.mount_in_child()
        join()

    out = subprocess.run(argv, env=built_image.environ(), preexec_fn=preexec, capture_output=True)
    assert out.returncode != 0 and b"ok" not in out.stdout
    assert limiter.oom_killed(cid)


def test_memory_within_the_limit_is_not_an_oom(limiter, cid):
    preexec = limiter.prepare(cid, Limits(memory_mib=128))
    code = ALLOCATE.format(mib=16)
    out = subprocess.run([sys.executable, "-c", code], preexec_fn=preexec, capture_output=True)
    assert out.returncode == 0 and out.stdout.strip() == b"ok"
    assert not limiter.oom_killed(cid)


def test_cpu_quota_is_applied(limiter, cid):
    preexec = limiter.prepare(cid, Limits(cpu=0.1, cpu_share=0.5))
    subprocess.run([sys.executable, "-c", BUSY.format(s=0.4)], preexec_fn=preexec, check=True)
    assert limiter.cpu_throttled(cid) > 0
    group = limiter.cgroup
    if isinstance(group, CgroupV1):
        assert (group.group("cpu", cid) / "cpu.cfs_quota_us").read_text().strip() == "10000"
    else:
        assert isinstance(group, CgroupV2)
        assert (group.group(cid) / "cpu.max").read_text().split() == ["10000", "100000"]


def test_release_kills_leftovers_and_removes_the_group(limiter):
    container_id = f"ct-test-{uuid.uuid4().hex[:12]}"
    preexec = limiter.prepare(container_id, Limits(memory_mib=128))
    proc = subprocess.Popen(["sleep", "60"], preexec_fn=preexec)
    limiter.release(container_id)
    assert proc.wait(timeout=10) == -9
    group = limiter.cgroup
    path = group.group("memory", container_id) if isinstance(group, CgroupV1) else None
    if isinstance(group, CgroupV2):
        path = group.group(container_id)
    assert path is not None and not path.exists()


def test_rlimits_are_the_last_resort(cid):
    fallback = limits.detect(prefer="rlimit")
    assert fallback.mechanism == "rlimit"
    assert "MemoryError" in fallback.describe()["memory"]
    preexec = fallback.prepare(cid, Limits(cpu=0.5, memory_mib=128))
    code = ALLOCATE.format(mib=512)
    out = subprocess.run([sys.executable, "-c", code], preexec_fn=preexec, capture_output=True)
    assert out.returncode == 1 and b"MemoryError" in out.stderr
    assert not fallback.oom_killed(cid)


def test_unknown_mechanism_is_refused():
    with pytest.raises(ValueError, match="GW_LIMITS='cgroup-v3'.*cgroup-v2, cgroup-v1, rlimit"):
        limits.detect(prefer="cgroup-v3")


def test_container_ids_cannot_escape_the_cgroup_tree(limiter):
    with pytest.raises(ValueError, match="not safe"):
        limiter.prepare("../../escape", Limits(memory_mib=128))


THREADS = """
import threading, time
started = 0
try:
    for _ in range(500):
        threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
        started += 1
except RuntimeError:
    pass
print(started)
"""


def test_a_fork_bomb_stops_at_the_task_limit(limiter, cid):
    preexec = limiter.prepare(cid, Limits(pids=32))
    out = subprocess.run(
        [sys.executable, "-c", THREADS], preexec_fn=preexec, capture_output=True, check=True
    )
    assert 0 < int(out.stdout) < 32  # the interpreter's own thread counts too
