"""Usage read from /proc when a container has no cgroup: a session's CPU time and memory."""

from __future__ import annotations

import os
import subprocess
import sys

from gworker.backends.metering import ProcfsSampler


def test_a_session_is_measured_with_its_children() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nx = sum(range(3_000_000))\nprint('up', flush=True)\ntime.sleep(30)",
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()  # running its own program, not the fork of this one
        sampler = ProcfsSampler(max_age_s=0)
        got = sampler.sample(child.pid)
        assert got is not None and got.memory_mib > 1
        assert sampler.sample(os.getsid(0)) is not None  # ours too, in the same scan
        assert sampler.sample(2**22 + 12345) is None  # no such session
    finally:
        child.kill()
        child.wait()
