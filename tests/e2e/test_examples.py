"""Every example in examples/ runs through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def gw_run(server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gworker.cli", "run", *args],
        env={**os.environ, **server.env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("hello.py", "--name", "Ada", "--times", "2"), "Hello, Ada!"),
        (("parallel_primes.py", "--limit", "100000", "--chunks", "8"), "9592 primes below 100,000"),
        (("embedder.py", "--n", "20"), "20 embeddings of dimension 384"),
    ],
)
def test_example_runs(server, args, expected):
    r = gw_run(server, str(EXAMPLES / args[0]), *args[1:])
    assert r.returncode == 0, r.stderr
    assert expected in r.stdout
