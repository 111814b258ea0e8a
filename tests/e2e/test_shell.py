"""``gw shell``: a real pseudo-terminal in a container with a function's image, volumes and
secrets, driven here through a pty as a person at a terminal would."""

from __future__ import annotations

import fcntl
import io
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

import gworker_client as gw

APPS = Path(__file__).parent.parent / "apps"
SHELL_APP = str(APPS / "shell_app.py")


class Terminal:
    """``gw`` on the far side of a pseudo-terminal."""

    def __init__(self, server, *args: str) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gworker.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, **server.env, "PYTHONPATH": os.pathsep.join(sys.path)},
            start_new_session=True,
        )
        os.close(slave)
        self.seen = b""

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and not self._ready(0):
                raise AssertionError(f"never saw {text!r}; the terminal shows {self.seen!r}")
            if self._ready(min(left, 1)):
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:  # the other side closed
                    pass
        at = self.seen.index(text.encode()) + len(text)
        shown, self.seen = self.seen[:at].decode(errors="replace"), self.seen[at:]
        return shown

    def _ready(self, timeout: float) -> bool:
        return bool(select.select([self.master], [], [], timeout)[0])

    def close(self) -> int:
        code = self.proc.wait(timeout=120)
        os.close(self.master)
        return code


@pytest.fixture(scope="module")
def seeded(server):
    vol = gw.Volume.from_name("shell-app-vol", create_if_missing=True)
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"volume file\n"), "/hello.txt")
    return vol


def test_an_interactive_shell_in_a_functions_container(server, seeded):
    term = Terminal(server, "shell", f"{SHELL_APP}::work")
    try:
        term.send("echo ready-$((40+2))\n")
        term.expect("ready-42")
        term.send("tty; stty size\n")
        term.expect("/dev/pts/")
        term.expect("30 100")  # the local window's size
        term.send("echo $FROM_IMAGE $SHELL_SECRET; cat /data/hello.txt\n")
        term.expect("image-env s3cret")
        term.expect("volume file")
        # a key a terminal sends raw (Ctrl-C) reaches the remote shell's foreground command
        term.send("sleep 600\n")
        time.sleep(0.5)
        term.send("\x03")
        term.send("echo after-$((1+1))\n")
        term.expect("after-2")
        term.send("exit 5\n")
    finally:
        code = term.close()
    assert code == 5


def test_cmd_runs_one_command(server, seeded):
    r = server.gw("shell", f"{SHELL_APP}::work", "--cmd", "cat /data/hello.txt; exit 3")
    assert r.stdout == "volume file\n"
    assert r.returncode == 3


def test_piped_commands_without_a_terminal(server):
    r = subprocess.run(
        [sys.executable, "-m", "gworker.cli", "shell", f"{SHELL_APP}::other"],
        input="echo piped $((2*3))\n",
        capture_output=True,
        text=True,
        env={**os.environ, **server.env},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "piped 6\n"


def test_overrides_and_attaching_to_a_sandbox(server):
    sb = gw.Sandbox.create(app=gw.App.lookup("shell-attach", create_if_missing=True))
    try:
        sb.exec("sh", "-c", "echo there > /tmp/mark").wait()
        r = server.gw("shell", sb.object_id, "--cmd", "cat /tmp/mark")
        assert (r.returncode, r.stdout) == (0, "there\n")
        assert sb.poll() is None  # attaching leaves it running
    finally:
        sb.terminate()
    r = server.gw("shell", "--volume", "shell-app-vol", "--cmd", "cat /mnt/shell-app-vol/hello.txt")
    assert (r.returncode, r.stdout) == (0, "volume file\n")


def test_errors_name_the_fix(server):
    # refused before anything starts, naming the value
    r = server.gw("shell", "--add-python", "3.11", "--cmd", "true")
    assert r.returncode != 0 and "--add-python 3.11" in r.stderr and "--image" in r.stderr
    r = server.gw("shell", "sb-0123456789", "--image", "python:3.12", "--cmd", "true")
    assert r.returncode != 0 and "start a new container" in r.stderr
    r = server.gw("shell", "sb-0123456789", "--env", "main", "--cmd", "true")
    assert r.returncode != 0 and "--env does not apply to sb-0123456789" in r.stderr
    r = server.gw("shell", SHELL_APP, "--cmd", "true")
    assert r.returncode != 0 and "::NAME" in r.stderr
    r = server.gw("shell", f"{SHELL_APP}::nope", "--cmd", "true")
    assert r.returncode != 0 and "no function 'nope'" in r.stderr
