"""A process in a sandbox, as the caller sees it: ``ContainerProcess`` with its ``stdout`` and
``stderr`` (``StreamReader``) and ``stdin`` (``StreamWriter``).

Output is read by long-polling the control plane from a byte offset, so reading is live (a line
arrives as soon as the process prints it), a retried read neither loses nor repeats bytes, and
nothing sleeps in a loop.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

from . import _api, _config
from ._aio import DualIterator, blocking

_POLL_S = _config.LONG_POLL_S


def _process_path(sandbox_id: str, pid: int) -> str:
    return f"/v1/sandboxes/{quote(sandbox_id)}/processes/{pid}"


class StreamReader:
    """The ``stdout`` or ``stderr`` of a sandbox process. ``read()`` returns everything up to
    the end of the stream; iterating yields its lines (with their newline) as they come."""

    def __init__(self, sandbox_id: str, pid: int, stream: str, text: bool = True) -> None:
        self._path = _process_path(sandbox_id, pid) + "/read"
        self._stream = stream
        self._text = text
        self._offset = 0
        self._eof = False

    def _fetch(self, timeout: float) -> bytes:
        resp = _api.client().post(
            f"{self._path}?stream={self._stream}&offset={self._offset}&timeout={timeout}",
            timeout=timeout + 30,
        )
        self._offset = resp["offset"]
        self._eof = bool(resp["eof"])
        return bytes(resp["data"])

    def _chunks(self) -> Iterator[bytes]:
        while not self._eof:
            chunk = self._fetch(_POLL_S)
            if chunk:
                yield chunk

    @blocking
    def read(self) -> Any:
        """Everything the process writes to this stream, once it closes it (or exits)."""
        data = b"".join(self._chunks())
        return data.decode("utf-8", errors="replace") if self._text else data

    def __aiter__(self) -> AsyncIterator[str]:
        """``async for line in p.stdout``: each line pulled in a worker thread."""
        return DualIterator(iter(self)).__aiter__()

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        for chunk in self._chunks():
            pending += decoder.decode(chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line + "\n"
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending


class StreamWriter:
    """The ``stdin`` of a sandbox process: ``write`` buffers, ``drain`` sends what was written,
    ``write_eof`` closes the stream once drained."""

    def __init__(self, sandbox_id: str, pid: int) -> None:
        self._path = _process_path(sandbox_id, pid) + "/stdin"
        self._buffer = bytearray()
        self._eof = False

    def write(self, data: bytes | bytearray | memoryview | str) -> None:
        if self._eof:
            raise ValueError("stdin was closed by write_eof()")
        if isinstance(data, str):
            data = data.encode()
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"stdin takes bytes or str, not {type(data).__name__}")
        self._buffer += data

    def write_eof(self) -> None:
        """End the process's input (sent with the next ``drain``)."""
        self._eof = True

    @blocking
    def drain(self) -> None:
        """Send what was written (and the end of input, if asked)."""
        data, self._buffer = bytes(self._buffer), bytearray()
        if data or self._eof:
            body = {"data": data, "eof": self._eof}
            _api.client().post(self._path, body, idempotent=False)


class ContainerProcess:
    """A command started by ``Sandbox.exec``."""

    def __init__(self, sandbox_id: str, pid: int, text: bool = True) -> None:
        self._sandbox_id = sandbox_id
        self._pid = pid
        self._returncode: int | None = None
        self.stdout = StreamReader(sandbox_id, pid, "stdout", text)
        self.stderr = StreamReader(sandbox_id, pid, "stderr", text)
        self.stdin = StreamWriter(sandbox_id, pid)

    def __repr__(self) -> str:
        return f"ContainerProcess({self._sandbox_id}, {self._pid}, returncode={self._returncode})"

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has exited (as a shell gives it: 127 for a command not
        found, 128+N for a signal N, 124 for a timeout), else None."""
        return self._returncode

    def _wait(self, timeout: float) -> int | None:
        resp = _api.client().post(
            f"{_process_path(self._sandbox_id, self._pid)}/wait?timeout={timeout}",
            timeout=timeout + 30,
        )
        self._returncode = resp["returncode"]
        return self._returncode

    @blocking
    def resize(self, rows: int, cols: int) -> None:
        """A process on a pseudo-terminal (``exec(..., pty=True)``): its terminal's new size."""
        body = {"rows": rows, "cols": cols}
        _api.client().post(f"{_process_path(self._sandbox_id, self._pid)}/resize", body)

    @blocking
    def poll(self) -> int | None:
        """The exit code if the process has exited, else None (without waiting)."""
        return self._returncode if self._returncode is not None else self._wait(0)

    @blocking
    def wait(self) -> int:
        """Wait for the process to exit; return its exit code."""
        while self._returncode is None:
            self._wait(_POLL_S)
        return self._returncode
