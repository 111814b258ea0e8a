"""What the caller's terminal shows: container logs streamed live, and progress for long maps.

Off by default for library use, as in Modal; ``gw run`` and ``gw.enable_output()`` turn it on.
``rich`` is imported only when output is on, so containers never pay for it.

While output is on, two rules keep the terminal readable: a call's result is returned only after
the container lines the server holds so far are printed (``sync_logs``), so what a function
printed comes before what the caller prints with its result; and the caller's ``sys.stdout`` and
``sys.stderr`` write whole lines (``LineWriter``), so a container's line never lands in the
middle of one of the caller's (``print("the square is", f.remote(42))`` stays one line).
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
# One lock for every write to the terminal: the caller's whole lines and the followed logs.
_terminal = threading.RLock()
_followers: set[LogFollower] = set()


class LineWriter:
    """A text stream that writes whole lines to ``target``, each thread's partial line kept until
    its newline (or an explicit flush); everything else is ``target``'s."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self._partial = threading.local()

    def write(self, text: str) -> int:
        pending = getattr(self._partial, "text", "") + text
        head, newline, tail = pending.rpartition("\n")
        self._partial.text = tail
        if newline:
            with _terminal:
                self._target.write(head + newline)
                self._target.flush()
        return len(text)

    def flush(self) -> None:
        pending, self._partial.text = getattr(self._partial, "text", ""), ""
        with _terminal:
            if pending:
                self._target.write(pending)
            self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


@contextlib.contextmanager
def enable_output() -> Iterator[None]:
    """Stream container logs and show progress while the block runs."""
    global _enabled
    previous, _enabled = _enabled, True
    streams = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, LineWriter):
        sys.stdout, sys.stderr = LineWriter(sys.stdout), LineWriter(sys.stderr)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = streams
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


def write_logs(rows: list[list[Any]], after: int = 0, partial: dict[str, str] | None = None) -> int:
    """Print log rows ``(seq, stream, text)`` past the cursor ``after``; return the new cursor.

    With ``partial``, a row's text after its last newline is kept there (per stream) until the
    rest of its line arrives, so the caller's lines never land inside it."""
    with _terminal:  # between the caller's whole lines, never inside one
        for seq, stream, text in rows:
            if seq > after:
                after = seq
                if partial is not None:
                    whole = partial.get(stream, "") + text
                    cut = whole.rfind("\n") + 1
                    text, partial[stream] = whole[:cut], whole[cut:]
                # the platform's own lines (a schedule's runs) go with the errors, apart from output
                out = sys.stderr if stream in ("stderr", "schedule") else sys.stdout
                getattr(out, "_target", out).write(text)
        for out in (sys.stdout, sys.stderr):  # not the writers: a partial line stays unwritten
            getattr(out, "_target", out).flush()
    return after


def sync_logs() -> None:
    """Print the container lines the server holds now, before a result reaches the caller."""
    for follower in list(_followers):
        with contextlib.suppress(exc.Error):
            follower.fetch(0)


class LogFollower:
    """Prints an app's container logs as they arrive (a long-poll loop in a daemon thread)."""

    def __init__(self, app_id: str, cursor: int = 0) -> None:
        self.app_id = app_id
        self.cursor = cursor
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the thread and a final drain may both print
        self._partial: dict[str, str] = {}  # per stream: the start of a line still arriving
        self._thread = threading.Thread(target=self._run, name="gw-logs", daemon=True)

    def start(self) -> LogFollower:
        _followers.add(self)
        self._thread.start()
        return self

    def fetch(self, wait: float) -> bool:
        """Print the lines that arrive within ``wait`` seconds; whether there were any."""
        resp = _api.client().get(
            f"/v1/apps/{self.app_id}/logs?after={self.cursor}&timeout={wait}", timeout=wait + 30
        )
        with self._lock:
            self.cursor = write_logs(resp["logs"], self.cursor, self._partial)
        return bool(resp["logs"])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.fetch(min(_config.LONG_POLL_S, 5.0))
            except exc.Error:
                if self._stop.wait(1.0):
                    return

    def stop(self) -> None:
        """Print what is left, then stop."""
        _followers.discard(self)
        self._stop.set()
        with contextlib.suppress(exc.Error):
            while self.fetch(0):
                pass
        with self._lock, _terminal:  # what never got its newline
            for stream, text in self._partial.items():
                out = sys.stderr if stream == "stderr" else sys.stdout
                getattr(out, "_target", out).write(text)
                getattr(out, "_target", out).flush()
            self._partial.clear()
