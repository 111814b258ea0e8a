"""``FileIO``: a file inside a sandbox, opened with ``sb.open(path, mode)`` (Modal's
``modal.file_io.FileIO``), and the path operations ``ls``, ``mkdir`` and ``rm``.

Every operation is a request that the sandbox's agent performs inside the sandbox, as the
sandbox's unprivileged user: what its own commands may not touch, this may not either. A failure
comes back as the kernel's errno and is raised as the matching ``OSError`` subclass
(``FileNotFoundError``, ``IsADirectoryError``, ``PermissionError``, ``FileExistsError``, ...).
Reads and writes travel in pieces of at most 512 KiB; nothing is buffered here, so ``flush`` has
nothing to send and a write is in the file when it returns.
"""

from __future__ import annotations

import codecs
import io
from typing import Any
from urllib.parse import quote

from . import _api
from ._aio import blocking, to_thread
from ._protocol.sandbox import MAX_FILE_CHUNK


def file_request(sandbox_id: str, op: str, **fields: Any) -> bytes:
    """Send one operation; its bytes, or the OSError the sandbox's kernel gave."""
    body = {"op": op, **{k: v for k, v in fields.items() if v is not None}}
    resp = _api.client().post(f"/v1/sandboxes/{quote(sandbox_id)}/files", body, idempotent=False)
    if resp["errno"]:
        # OSError(errno, ...) builds the matching subclass (2 -> FileNotFoundError, ...)
        raise OSError(resp["errno"], resp["message"], fields.get("path"))
    return bytes(resp["data"])


def check_mode(mode: str) -> tuple[bool, bool, bool]:
    """``(readable, writable, binary)`` for a mode, or ValueError as ``open`` gives it."""
    if (
        not isinstance(mode, str)
        or sum(mode.count(c) for c in "rwax") != 1
        or any(c not in "rwaxb+" for c in mode)
        or len(set(mode)) != len(mode)
    ):
        raise ValueError(f"invalid mode: {mode!r} (use r, w, a or x, with b and/or +)")
    readable = "r" in mode or "+" in mode
    writable = any(c in mode for c in "wax+")
    return readable, writable, "b" in mode


class FileIO:
    """An open file in a sandbox: ``read``, ``readline``, ``readlines``, ``write``, ``flush``,
    ``seek``, ``close``; a context manager (``with``/``async with``) that closes it; iterating
    yields its lines. Text modes read and write ``str`` (UTF-8), binary modes ``bytes``."""

    def __init__(self, sandbox_id: str, path: str, mode: str) -> None:
        self._readable, self._writable, self._binary = check_mode(mode)
        self._sandbox_id = sandbox_id
        self.name = path
        self.mode = mode
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        raw = file_request(sandbox_id, "open", path=path, mode=mode)
        self._handle = int.from_bytes(raw, "big")
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"FileIO({self._sandbox_id}:{self.name!r}, {self.mode!r}, {state})"

    @property
    def closed(self) -> bool:
        return self._closed

    def _op(self, op: str, **fields: Any) -> bytes:
        if self._closed:
            raise ValueError("I/O operation on closed file")
        return file_request(self._sandbox_id, op, handle=self._handle, **fields)

    def _text(self, data: bytes, final: bool) -> Any:
        return data if self._binary else self._decoder.decode(data, final=final)

    def _check(self, readable: bool) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed file")
        if readable and not self._readable:
            raise io.UnsupportedOperation("not readable")
        if not readable and not self._writable:
            raise io.UnsupportedOperation("not writable")

    @blocking
    def read(self, n: int | None = None) -> Any:
        """``n`` bytes (characters are decoded from them in text mode) from the current
        position, or everything to the end of the file."""
        self._check(readable=True)
        out = bytearray()
        while n is None or n < 0 or len(out) < n:
            want = None if n is None or n < 0 else min(n - len(out), MAX_FILE_CHUNK)
            chunk = self._op("read", n=want)
            if not chunk:
                break
            out += chunk
        return self._text(bytes(out), final=n is None or n < 0 or len(out) < n)

    @blocking
    def readline(self) -> Any:
        """One line, with its newline (empty at the end of the file)."""
        self._check(readable=True)
        out = bytearray()
        while not out.endswith(b"\n"):
            chunk = self._op("readline")
            if not chunk:
                break
            out += chunk
        return self._text(bytes(out), final=not out.endswith(b"\n"))

    @blocking
    def readlines(self) -> list[Any]:
        """The remaining lines, each with its newline."""
        return list(iter(self.readline, b"" if self._binary else ""))

    def __iter__(self) -> Any:
        return iter(self.readline, b"" if self._binary else "")

    @blocking
    def write(self, data: bytes | str) -> None:
        """Write at the current position (at the end in append mode)."""
        self._check(readable=False)
        if self._binary and not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"a binary-mode file takes bytes, not {type(data).__name__}")
        if not self._binary and not isinstance(data, str):
            raise TypeError(f"a text-mode file takes str, not {type(data).__name__}")
        raw = data.encode() if isinstance(data, str) else bytes(data)
        for start in range(0, len(raw), MAX_FILE_CHUNK):
            self._op("write", data=raw[start : start + MAX_FILE_CHUNK])

    @blocking
    def flush(self) -> None:
        """Writes are not buffered; this checks the file is still open for writing."""
        self._check(readable=False)
        self._op("flush")

    @blocking
    def seek(self, offset: int, whence: int = 0) -> int:
        """Move to ``offset`` from the start (``whence=0``), the current position (1) or the
        end (2); returns the new position."""
        if whence not in (0, 1, 2):
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        self._decoder.reset()
        return int.from_bytes(self._op("seek", offset=offset, whence=whence), "big")

    @blocking
    def close(self) -> None:
        """Close it (closing twice does nothing)."""
        if not self._closed:
            self._op("close")
            self._closed = True

    def __enter__(self) -> FileIO:
        if self._closed:
            raise ValueError("I/O operation on closed file")
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    async def __aenter__(self) -> FileIO:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        await to_thread(self.close)
