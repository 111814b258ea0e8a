"""The sandbox agent: the first process of a sandbox, inside its namespaces.

It starts the sandbox's main command and every ``exec``'d command, and relays their stdin, stdout,
stderr and exit codes to the control plane over its own stdin and stdout (framed, below). A
sandbox has no network path to the control plane and no token: these two pipes, held by the
server, are its only channel, so a process inside can reach nothing but its own agent.

Run as a script (``python -I -S sandbox_agent.py``) with the standard library only: it imports
nothing of gworker, so it starts in a few milliseconds in any image.

Frames, both ways: a 9-byte header (kind: u8, process: u32, length: u32, big-endian) and
``length`` bytes. The server sends EXEC (a ``marshal``'d dict ``{"args", "cwd", "env",
"timeout"}``: built-in and quick to load, and only ever read here, from the trusted side), STDIN
(bytes), STDIN_EOF, FS (a marshal'd file operation or probe, ``sandbox_files.py``) and RESIZE
(a terminal's rows and columns, for a command run on a pseudo-terminal); the agent
sends READY once it runs, STDOUT and STDERR (bytes), EXIT (the exit code, a big-endian i32) and
FS_REPLY (a status byte, 0 or the errno, then bytes). The control plane parses nothing richer
than that from a sandbox.
Process 0 is the main command: when it exits, the agent reports it and exits with its code,
which ends the sandbox (the pid namespace's other processes die with it).
"""

from __future__ import annotations

import fcntl
import marshal
import os
import queue
import signal
import struct
import subprocess
import sys
import termios
import threading
from typing import Any

HEADER = struct.Struct(">BII")
CODE = struct.Struct(">i")
EXEC, STDIN, STDIN_EOF, FS, RESIZE = 1, 2, 3, 4, 9
STDOUT, STDERR, EXIT, FS_REPLY, READY = 5, 6, 7, 8, 10
WINSIZE = struct.Struct(">HH")  # RESIZE's payload: rows, columns
MAIN = 0
# what a shell answers for a command it cannot find or cannot run, and for one a timeout killed
NOT_FOUND, NOT_EXECUTABLE, TIMED_OUT = 127, 126, 124
CHUNK = 65536


class Channel:
    """The frame pipes to the control plane; writes from many threads are serialized."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self._r = os.fdopen(rfd, "rb", buffering=CHUNK)
        self._wfd = wfd
        self._lock = threading.Lock()

    def send(self, kind: int, proc: int, payload: bytes = b"") -> None:
        data = HEADER.pack(kind, proc, len(payload)) + payload
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._wfd, view) :]

    def receive(self) -> tuple[int, int, bytes] | None:
        head = self._r.read(HEADER.size)
        if len(head) < HEADER.size:
            return None
        kind, proc, length = HEADER.unpack(head)
        payload = self._r.read(length) if length else b""
        return kind, proc, payload


class Process:
    """One command: its pipes pumped into frames, its stdin fed from a queue (so a command that
    does not read its stdin never blocks the agent)."""

    def __init__(
        self, channel: Channel, pid: int, popen: subprocess.Popen[bytes], tty: int | None = None
    ) -> None:
        self.channel = channel
        self.pid = pid
        self.popen = popen
        self.tty = tty  # the pseudo-terminal's controlling side, if it runs on one
        self.timed_out = False
        self._stdin: queue.Queue[bytes | None] = queue.Queue()
        if tty is not None:  # one stream: the terminal's output
            pumps = [self._pump(tty, STDOUT)]
        else:
            assert popen.stdout and popen.stderr
            out, err = popen.stdout.fileno(), popen.stderr.fileno()
            pumps = [self._pump(out, STDOUT), self._pump(err, STDERR)]
        self._pumps = [threading.Thread(target=p, daemon=True) for p in pumps]
        for t in self._pumps:
            t.start()
        threading.Thread(target=self._feed, daemon=True).start()

    def _pump(self, fd: int, kind: int) -> Any:
        def run() -> None:
            while True:
                try:
                    chunk = os.read(fd, CHUNK)
                except OSError:  # a terminal whose other side closed (EIO)
                    return
                if not chunk:
                    return
                self.channel.send(kind, self.pid, chunk)

        return run

    def _feed(self) -> None:
        if self.tty is not None:
            while (data := self._stdin.get()) is not None:
                try:
                    os.write(self.tty, data)
                except OSError:
                    return
            try:
                os.write(self.tty, b"\x04")  # the end of input, as a terminal sends it: ^D
            except OSError:
                pass
            return
        stdin = self.popen.stdin
        assert stdin is not None
        while (data := self._stdin.get()) is not None:
            try:
                stdin.write(data)
                stdin.flush()
            except OSError:
                return  # the command closed its stdin or exited: the rest is dropped
        try:
            stdin.close()
        except OSError:
            pass

    def write(self, data: bytes | None) -> None:
        self._stdin.put(data)

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except OSError:
            pass

    def resize(self, payload: bytes) -> None:
        if self.tty is not None and len(payload) == WINSIZE.size:
            rows, cols = WINSIZE.unpack(payload)
            fcntl.ioctl(self.tty, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def wait(self) -> int:
        code = self.popen.wait()
        for t in self._pumps:
            # on a terminal, a background child may hold it open: what was written is read
            t.join(timeout=1.0 if self.tty is not None else None)
        if self.tty is not None:
            os.close(self.tty)
        if self.timed_out:
            return TIMED_OUT
        return 128 - code if code < 0 else code  # a signal N reads 128+N, as in a shell


class Agent:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.procs: dict[int, Process] = {}
        self.files: Any = None

    def file_op(self, number: int, payload: bytes) -> None:
        """A file operation or probe, in a thread of its own: one that blocks (a FIFO, a slow
        disk) holds up nothing else."""
        if self.files is None:
            # a sibling module, loaded on first use so that starting the agent stays quick
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import sandbox_files  # type: ignore[import-not-found]

            self.files = sandbox_files.Files()

        def run() -> None:
            try:
                data, status = self.files.run(marshal.loads(payload)), 0
            except OSError as e:
                data, status = (e.strerror or str(e)).encode(errors="replace"), e.errno or 0
                status = status if 0 < status < 256 else 5  # EIO when it has no errno to give
            except Exception as e:  # a malformed request: EINVAL
                data, status = f"{type(e).__name__}: {e}".encode(errors="replace"), 22
            self.channel.send(FS_REPLY, number, bytes([status]) + data)

        threading.Thread(target=run, daemon=True).start()

    def run(self) -> None:
        while (frame := self.channel.receive()) is not None:
            kind, pid, payload = frame
            if kind == EXEC:
                self.start(pid, marshal.loads(payload))
            elif kind == FS:
                self.file_op(pid, payload)
            elif kind == RESIZE and pid in self.procs:
                self.procs[pid].resize(payload)
            elif kind in (STDIN, STDIN_EOF) and pid in self.procs:
                self.procs[pid].write(payload if kind == STDIN else None)
        # the control plane closed the channel: the sandbox ends
        for p in list(self.procs.values()):
            p.kill()
        os._exit(137)

    def start(self, pid: int, req: dict[str, Any]) -> None:
        args: list[str] = req["args"]
        cwd = req.get("cwd")
        env = {**os.environ, **(req.get("env") or {})}
        problem = None
        size = req.get("pty")
        tty, std = (None, None) if size is None else os.openpty()
        if tty is not None and size is not None:
            env.setdefault("TERM", "xterm-256color")
            fcntl.ioctl(tty, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
        if cwd and not os.path.isdir(cwd):
            problem = (f"cd: {cwd}: No such file or directory\n", 1)
        else:
            try:
                popen = subprocess.Popen(
                    args,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.PIPE if std is None else std,
                    stdout=subprocess.PIPE if std is None else std,
                    stderr=subprocess.PIPE if std is None else std,
                    start_new_session=True,  # its own group, so a kill takes its children too
                    # on a terminal: that terminal is its session's controlling one
                    preexec_fn=None if std is None else _take_terminal,
                )
            except FileNotFoundError:
                problem = (f"{args[0]}: command not found\n", NOT_FOUND)
            except PermissionError:
                problem = (f"{args[0]}: Permission denied\n", NOT_EXECUTABLE)
            except OSError as e:
                problem = (f"{args[0]}: {e.strerror}\n", NOT_EXECUTABLE)
        if std is not None:
            os.close(std)
        if problem:
            if tty is not None:
                os.close(tty)
            self.channel.send(STDERR, pid, problem[0].encode())
            self.finish(pid, problem[1])
            return
        proc = Process(self.channel, pid, popen, tty)
        self.procs[pid] = proc
        timeout = req.get("timeout")
        if timeout:
            timer = threading.Timer(timeout, self._expire, (proc,))
            timer.daemon = True
            timer.start()
        threading.Thread(target=lambda: self.finish(pid, proc.wait()), daemon=True).start()

    def _expire(self, proc: Process) -> None:
        if proc.popen.poll() is None:
            proc.timed_out = True
            proc.kill()

    def finish(self, pid: int, code: int) -> None:
        self.procs.pop(pid, None)
        self.channel.send(EXIT, pid, CODE.pack(code))
        if pid == MAIN:
            os._exit(code & 0xFF)


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def main() -> None:
    # the frames own fds 0 and 1; commands get pipes of their own, never these
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.stdout = sys.stderr
    channel = Channel(rfd, wfd)
    channel.send(READY, MAIN)  # the isolation is in place and commands can start
    Agent(channel).run()


if __name__ == "__main__":
    main()
