"""File operations and probes a sandbox's agent performs for the control plane (``sb.open``,
``ls``, ``mkdir``, ``rm``, readiness probes).

They run in the agent, inside the sandbox, as its unprivileged user: a path means what it means
to the sandbox's own commands (relative ones from its working directory), and whatever the
sandbox's user may not do fails here with the kernel's errno, which travels back as the reply's
status byte. Standard library only, imported by the agent on the first request.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import threading
from typing import Any

# The most bytes one request reads; the caller asks again for more (a reply is one frame).
READ_CHUNK = 512 * 1024
MAX_HANDLES = 256
_FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC}
_FLAGS |= {"a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}


def open_flags(mode: str) -> int:
    """``os.open`` flags for a Python file mode (``b`` changes nothing at this level)."""
    flags = _FLAGS[next(c for c in mode if c in _FLAGS)]
    if "+" in mode:
        flags = (flags & ~os.O_WRONLY) | os.O_RDWR
    return flags | os.O_CLOEXEC


class Files:
    """Open handles, by number, and the operations on paths. The agent runs each request in a
    thread of its own, so handing out and taking back handles holds a lock."""

    def __init__(self) -> None:
        self.handles: dict[int, int] = {}  # handle -> fd
        self._next = 1
        self._lock = threading.Lock()

    def run(self, req: dict[str, Any]) -> bytes:
        """Perform one request; raises OSError (its errno is the reply's status)."""
        op = req.get("op")
        method = getattr(self, "op_" + str(op), None)
        if method is None:
            raise OSError(errno.EINVAL, f"unknown operation {op!r}")
        result: bytes = method(req)
        return result

    def _fd(self, req: dict[str, Any]) -> int:
        fd = self.handles.get(req.get("handle", -1))
        if fd is None:
            raise OSError(errno.EBADF, "the file is not open (closed, or opened elsewhere)")
        return fd

    def op_open(self, req: dict[str, Any]) -> bytes:
        path = req["path"]
        # O_NONBLOCK so that opening a FIFO nobody writes to answers at once
        fd = os.open(path, open_flags(req["mode"]) | os.O_NONBLOCK, 0o644)
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", path)
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        with self._lock:
            if len(self.handles) >= MAX_HANDLES:
                os.close(fd)
                raise OSError(errno.EMFILE, f"at most {MAX_HANDLES} files may be open at once")
            handle, self._next = self._next, self._next + 1
            self.handles[handle] = fd
        return handle.to_bytes(4, "big")

    def op_read(self, req: dict[str, Any]) -> bytes:
        n = req.get("n")
        size = READ_CHUNK if n is None or n < 0 else min(n, READ_CHUNK)
        return os.read(self._fd(req), size)

    def op_readline(self, req: dict[str, Any]) -> bytes:
        fd = self._fd(req)
        line = bytearray()
        while len(line) < READ_CHUNK:
            chunk = os.read(fd, 8192)
            if not chunk:
                break
            end = chunk.find(b"\n")
            if end >= 0:
                line += chunk[: end + 1]
                os.lseek(fd, end + 1 - len(chunk), os.SEEK_CUR)  # back to just past the line
                break
            line += chunk
        return bytes(line)

    def op_write(self, req: dict[str, Any]) -> bytes:
        fd, view = self._fd(req), memoryview(req["data"])
        while view:
            view = view[os.write(fd, view) :]
        return b""

    def op_flush(self, req: dict[str, Any]) -> bytes:
        self._fd(req)  # writes are not buffered here: they are in the file already
        return b""

    def op_seek(self, req: dict[str, Any]) -> bytes:
        pos = os.lseek(self._fd(req), req["offset"], req["whence"])
        return pos.to_bytes(8, "big")

    def op_close(self, req: dict[str, Any]) -> bytes:
        with self._lock:  # two closes of one handle: the second is EBADF, not a KeyError
            fd = self.handles.pop(req.get("handle", -1), None)
        if fd is None:
            raise OSError(errno.EBADF, "the file is not open (closed, or opened elsewhere)")
        os.close(fd)
        return b""

    def op_ls(self, req: dict[str, Any]) -> bytes:
        return b"\0".join(os.fsencode(n) for n in sorted(os.listdir(req["path"])))

    def op_mkdir(self, req: dict[str, Any]) -> bytes:
        if req.get("parents"):
            os.makedirs(req["path"], exist_ok=True)
        else:
            os.mkdir(req["path"])
        return b""

    def op_rm(self, req: dict[str, Any]) -> bytes:
        path = req["path"]
        if os.path.isdir(path) and not os.path.islink(path):
            if req.get("recursive"):
                shutil.rmtree(path)
            else:
                os.rmdir(path)
        else:
            os.unlink(path)
        return b""

    def op_connect(self, req: dict[str, Any]) -> bytes:
        """A TCP readiness probe: whether something accepts on the sandbox's own port."""
        with socket.create_connection(("127.0.0.1", req["port"]), timeout=1.0):
            return b""

    def op_run(self, req: dict[str, Any]) -> bytes:
        """An exec readiness probe: the command's exit code (a signal N reads 128+N)."""
        import subprocess

        env = {**os.environ, **req.get("env", {})}
        try:
            code = subprocess.run(
                req["argv"],
                env=env,
                cwd=req.get("cwd"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=req.get("timeout", 10),
                start_new_session=True,
            ).returncode
        except subprocess.TimeoutExpired:
            code = 124
        return (128 - code if code < 0 else code).to_bytes(4, "big")
