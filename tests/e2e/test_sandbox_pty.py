"""Commands on a pseudo-terminal in a sandbox (``exec(..., pty=True)``)."""

from __future__ import annotations

import pytest

import gworker_client as gw


@pytest.fixture(scope="module")
def app(server):
    return gw.App.lookup("sandbox-pty", create_if_missing=True)


def test_a_command_on_a_terminal_sees_one_and_its_size(app):
    sb = gw.Sandbox.create(app=app)
    try:
        p = sb.exec(
            "python",
            "-c",
            "import os, sys; print(os.isatty(0), os.isatty(1), os.get_terminal_size());"
            " print('err', file=sys.stderr)",
            pty=(30, 100),
        )
        out = p.stdout.read()
        assert p.wait() == 0
        assert "True True os.terminal_size(columns=100, lines=30)" in out
        assert "err" in out  # one stream: the terminal's
        assert p.stderr.read() == ""
    finally:
        sb.terminate()


def test_an_interactive_shell_on_a_terminal(app):
    sb = gw.Sandbox.create(app=app)
    try:
        p = sb.exec("sh", "-i", pty=(24, 80))
        lines = iter(p.stdout)
        p.stdin.write("stty size; tty; echo $((6*7))\n")
        p.stdin.drain()
        seen = ""
        while "42\r\n" not in seen:
            seen += next(lines)
        assert "24 80" in seen and "/dev/pts/" in seen
        p.resize(50, 120)
        p.stdin.write("stty size; exit 3\n")
        p.stdin.drain()
        assert "50 120" in "".join(lines)
        assert p.wait() == 3
    finally:
        sb.terminate()


def test_bad_terminal_sizes_are_refused(app):
    sb = gw.Sandbox.create(app=app)
    try:
        with pytest.raises(gw.exception.InvalidError, match="pty"):
            sb.exec("sh", pty=(0, 80))
    finally:
        sb.terminate()
