"""Running one build command with its output streamed to the build log, line by line."""

from __future__ import annotations

import collections
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .errors import BuildError

Log = Callable[[str], None]
TAIL_LINES = 40


def run(
    argv: Sequence[str],
    log: Log,
    *,
    env: Mapping[str, str],
    shown: str | None = None,
    cwd: Path | None = None,
    hint: str = "",
    preexec: Callable[[], None] | None = None,
) -> None:
    """Run ``argv``, streaming stdout and stderr (merged) to ``log``. On failure raise BuildError
    naming the command (``shown``, the user's own text, when given) and ending with its output."""
    shown = shown or shlex.join(argv)
    log(f"$ {shown}")
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            umask=0o022,
            preexec_fn=preexec,
        )
    except OSError as e:
        raise BuildError(f"command `{shown}` could not start: {e}") from None
    assert proc.stdout is not None
    with proc:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            tail.append(line)
            log(line)
    if proc.returncode != 0:
        if any("No space left on device" in line for line in tail):
            hint += "; the disk is full: free space (gw image prune removes unused layers)"
        output = "\n".join(tail)
        raise BuildError(
            f"command `{shown}` failed with exit code {proc.returncode}{hint}; its output ends"
            f" with:\n{output}"
        )
