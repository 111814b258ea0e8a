"""What the caller's terminal shows: container logs streamed live, and progress for long maps.

Off by default for library use, as in Modal; ``gw run`` and ``gw.enable_output()`` turn it on.
``rich`` is imported only when output is on, so containers never pay for it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

from . import _api, _config
from . import exception as exc

# A map shows a progress bar once it has at least this many inputs.
PROGRESS_MIN_INPUTS = 50

_enabled = False


@contextlib.contextmanager
def enable_output() -> Iterator[None]:
    """Stream container logs and show progress while the block runs."""
    global _enabled
    previous, _enabled = _enabled, True
    try:
        yield
    finally:
        _enabled = previous


def is_enabled() -> bool:
    return _enabled


class _NoProgress:
    def update(self, total: int, completed: int) -> None:
        pass

    def close(self) -> None:
        pass


class _MapProgress:
    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.task: Any = None

    def update(self, total: int, completed: int) -> None:
        if self.bar is None:
            if total < PROGRESS_MIN_INPUTS:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.bar = Progress(
                f"[bold]{self.label}.map",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("map", total=total)
        self.bar.update(self.task, total=total, completed=completed)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def map_progress(label: str) -> _MapProgress | _NoProgress:
    return _MapProgress(label) if _enabled else _NoProgress()


def write_logs(rows: list[list[Any]], after: int = 0) -> int:
    """Print log rows ``(seq, stream, text)`` past the cursor ``after``; return the new cursor."""
    for seq, stream, text in rows:
        if seq > after:
            after = seq
            # the platform's own lines (a schedule's runs) go with the errors, apart from output
            (sys.stderr if stream in ("stderr", "schedule") else sys.stdout).write(text)
    sys.stdout.flush()
    return after


class LogFollower:
    """Prints an app's container logs as they arrive (a long-poll loop in a daemon thread)."""

    def __init__(self, app_id: str, cursor: int = 0) -> None:
        self.app_id = app_id
        self.cursor = cursor
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the thread and a final drain may both print
        self._thread = threading.Thread(target=self._run, name="gw-logs", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def _fetch(self, wait: float) -> bool:
        resp = _api.client().get(
            f"/v1/apps/{self.app_id}/logs?after={self.cursor}&timeout={wait}", timeout=wait + 30
        )
        with self._lock:
            self.cursor = write_logs(resp["logs"], self.cursor)
        return bool(resp["logs"])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._fetch(min(_config.LONG_POLL_S, 5.0))
            except exc.Error:
                if self._stop.wait(1.0):
                    return

    def stop(self) -> None:
        """Print what is left, then stop."""
        self._stop.set()
        with contextlib.suppress(exc.Error):
            while self._fetch(0):
                pass
