"""Every example in examples/ runs through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("hello.py", "--name", "Ada", "--times", "2"), "Hello, Ada!"),
        (("parallel_primes.py", "--limit", "100000", "--chunks", "8"), "9592 primes below 100,000"),
        (("embedder.py", "--n", "20"), "20 embeddings of dimension 384"),
        (("code_sandbox.py", "--path", "/x"), '"path": "/x"}'),
    ],
)
def test_example_runs(server, args, expected):
    r = server.gw("run", str(EXAMPLES / args[0]), *args[1:], timeout=300)
    assert r.returncode == 0, r.stderr
    assert expected in r.stdout
