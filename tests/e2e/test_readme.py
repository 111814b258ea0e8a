"""The README's example runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_quick_start_runs(server, tmp_path):
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    app_file = tmp_path / "app.py"
    app_file.write_text(block.group(1))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gworker.cli",
            "run",
            str(app_file),
            "--name",
            "Ada",
            "--times",
            "3",
        ],
        env={**os.environ, **server.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Hello, Ada!") == 3
