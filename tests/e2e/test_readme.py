"""Every Python example in the README runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gworker.isolation import Identity, container_uid

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
EXPECTED = [
    "Hello, Ada!\nHello, Ada!\nHello, Ada!\n",
    "['Hello, Ada!', 'Hello, Grace!']\nHi, Linus!\n",
    "six 1.16.0, demo, weights, sl: True\n",
    "key of 14 characters\nResults\n",
    "{'square': 49}\n{'hello': 'Ada'}\n",
    "value task\n",
    "ran on schedule: True\n",
    "3\n2\n1\nLIFTOFF!\n",
    f"uid {container_uid(Identity.SANDBOX)} token False 0\nshadow readable: False\n",
]


def test_every_block_has_an_expectation():
    assert len(BLOCKS) == len(EXPECTED)


@pytest.mark.parametrize(("block", "expected"), list(zip(BLOCKS, EXPECTED)))
def test_readme_block_runs(server, tmp_path, block, expected):
    app_file = tmp_path / "app.py"
    app_file.write_text(block)
    if "local_entrypoint" in block:
        cmd = [sys.executable, "-m", "gworker.cli", "run", str(app_file)]
        cmd += ["--name", "Ada", "--times", "3"] if "times" in block else []
    else:
        cmd = [sys.executable, str(app_file)]
    r = subprocess.run(
        cmd, env={**os.environ, **server.env}, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    # container output streams in concurrently and may land inside a printed line: compare
    # what the example printed, with the streamed lines taken out
    printed = r.stdout.replace("running remotely\n", "").replace("running remotely", "")
    assert sorted(printed.split()) == sorted(expected.split())
