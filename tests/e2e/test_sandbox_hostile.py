"""Hostile code in sandboxes: each attempt is refused or contained, and the server and other
sandboxes keep working (checked after every attempt by ``bystander``)."""

from __future__ import annotations

import http.client
import socket
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import gworker_client as gw
from gworker.backends.sandbox import SANDBOX_PIDS
from gworker_client.exception import SandboxTimeoutError


@pytest.fixture(scope="module")
def app(server):
    return gw.App.lookup("sandbox-hostile", create_if_missing=True)


@pytest.fixture(scope="module")
def bystander(app) -> Iterator[gw.Sandbox]:
    sb = gw.Sandbox.create(app=app)
    yield sb
    sb.terminate()


@pytest.fixture(autouse=True)
def others_keep_working(server, app, bystander):
    yield
    # the server answers, the sandbox that was there all along still runs commands, and a new
    # one starts
    assert bystander.exec("echo", "alive").stdout.read() == "alive\n"
    assert gw.Sandbox.create("echo", "new", app=app).stdout.read() == "new\n"


def run(sb: gw.Sandbox, code: str) -> tuple[int, str, str]:
    p = sb.exec("python", "-c", textwrap.dedent(code))
    out, err = p.stdout.read(), p.stderr.read()
    return p.wait(), out, err


@pytest.fixture
def sandbox(app) -> Iterator[gw.Sandbox]:
    sb = gw.Sandbox.create(app=app)
    yield sb
    sb.terminate()


def test_cannot_read_shadow_or_the_servers_files(server, sandbox):
    code, _, err = run(sandbox, "open('/etc/shadow').read()")
    assert code != 0 and "PermissionError" in err
    for name in ("token.json", "state.db", "secrets.key", "server.log"):
        path = server.home / name
        assert path.exists() or name == "secrets.key"
        code, out, err = run(sandbox, f"import os; print(os.path.exists({str(path)!r}))")
        assert (code, out) == (0, "False\n"), err
    code, out, _ = run(sandbox, "import os; print(sorted(k for k in os.environ if 'GW_' in k))")
    assert out == "[]\n"  # no token, no server address


def test_cannot_reach_host_loopback_or_the_control_plane(server, sandbox, app):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[object] = []
    listener.settimeout(0.5)

    def accept() -> None:
        try:
            accepted.append(listener.accept())
        except OSError:
            pass

    probe = f"""
        import socket, sys
        for host in ("127.0.0.1", "10.0.2.2", "localhost"):
            for port in ({port}, {server.port}):
                try:
                    socket.create_connection((host, port), timeout=3).close()
                    print("REACHED", host, port)
                except OSError as e:
                    print("refused", host, port, type(e).__name__)
    """
    cut_off = gw.Sandbox.create(app=app, block_network=True)
    try:
        for sb in (sandbox, cut_off):
            code, out, err = run(sb, probe)
            assert code == 0, err
            assert "REACHED" not in out and out.count("refused") == 6, out
    finally:
        cut_off.terminate()
    thread = threading.Thread(target=accept)
    thread.start()
    thread.join()
    listener.close()
    assert accepted == []


def test_cannot_call_the_api_without_credentials(server):
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    for method, path in [
        ("GET", "/v1/sandboxes"),
        ("POST", "/v1/sandboxes"),
        ("GET", "/v1/apps"),
        ("POST", "/v1/sandboxes/sb-x/exec"),
    ]:
        conn.request(method, path, body=b"" if method == "POST" else None)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 401, (method, path)


def test_cannot_write_outside_its_filesystem(sandbox, tmp_path):
    marker = f"escape-{uuid.uuid4().hex}"
    code, out, err = run(
        sandbox,
        f"""
        import os, sys
        for path in ("/usr/{marker}", "/etc/{marker}", "/{marker}", sys.prefix + "/{marker}",
                     "{tmp_path}/{marker}"):
            try:
                open(path, "w").write("x")
                print("WROTE", path)
            except OSError as e:
                print("refused", path, type(e).__name__)
        open("/tmp/{marker}", "w").write("private")  # its own /tmp: allowed, and private
        print("tmp ok")
        """,
    )
    assert code == 0, err
    assert "WROTE" not in out and "tmp ok" in out, out
    assert not (Path("/tmp") / marker).exists()
    assert not (tmp_path / marker).exists()
    assert not (Path("/usr") / marker).exists()


def _processes_with(tag: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if tag.encode() in (proc / "cmdline").read_bytes():
                found.append(proc.name)
        except OSError:
            continue
    return found


def test_fork_bomb_is_contained_by_the_process_limit(app):
    tag = f"bomb-{uuid.uuid4().hex}"
    bomb = gw.Sandbox.create(app=app, cpu=0.5)
    try:
        # every process forks until the kernel refuses; the first one then says so
        p = bomb.exec(
            "python",
            "-c",
            "import os, time\nroot = os.getpid()\nwhile True:\n    try:\n        os.fork()\n"
            "    except OSError:\n        break\nif os.getpid() == root:\n"
            f"    print('LIMIT', flush=True)\ntime.sleep(600)  # {tag}",
        )
        assert next(iter(p.stdout)) == "LIMIT\n"
        held = len(_processes_with(tag))
        assert 50 < held <= SANDBOX_PIDS
        # no room for another command in it, but the rest of the machine is unaffected
        assert bomb.exec("true").wait() != 0
    finally:
        bomb.terminate()  # and every process of it goes
    assert _processes_with(tag) == []


def test_memory_hog_is_killed_at_its_limit(app):
    hog = gw.Sandbox.create(app=app, memory=64)
    try:
        code, out, err = run(
            hog,
            "b = b'x' * (512 * 1024 * 1024); print('ALLOCATED')",
        )
        assert code != 0 and "ALLOCATED" not in out, (code, out, err, hog.info())
    finally:
        hog.terminate()


def test_nothing_outlives_the_timeout(app):
    tag = str(1000 + uuid.uuid4().int % 9000) + ".25"
    sb = gw.Sandbox.create("sh", "-c", f"sleep {tag} & sleep {tag}", app=app, timeout=2)
    with pytest.raises(SandboxTimeoutError):
        sb.wait()
    assert sb.returncode == 124
    assert _processes_with(tag) == []


def test_endless_output_does_not_fill_the_servers_memory(app):
    from gworker.server.scheduler.sandbox_state import KEEP_BYTES

    sb = gw.Sandbox.create(
        "python",
        "-c",
        f"import sys; sys.stdout.write('x' * {2 * KEEP_BYTES}); print('END')",
        app=app,
    )
    sb.wait()
    out = sb.stdout.read()  # the oldest bytes were dropped: the server kept a bounded window
    assert out.endswith("xEND\n")
    assert len(out) <= KEEP_BYTES
