"""A sandbox's idle timeout, readiness probes and ``detach``, through the real control plane."""

from __future__ import annotations

import asyncio

import pytest

import gworker_client as gw
from gworker_client.exception import (
    InvalidError,
    SandboxTerminatedError,
    SandboxTimeoutError,
    TimeoutError,
)


@pytest.fixture(scope="module")
def app(server):
    return gw.App.lookup("sandbox-readiness", create_if_missing=True)


def test_idle_timeout_ends_a_sandbox_nobody_uses(app):
    sb = gw.Sandbox.create("sleep", "600", app=app, idle_timeout=1)
    with pytest.raises(SandboxTimeoutError, match="idle"):
        sb.wait()
    assert sb.returncode == 124


def test_a_running_command_keeps_an_idle_sandbox_alive(app):
    sb = gw.Sandbox.create(app=app, idle_timeout=1)
    try:
        # the command runs for three idle periods; the sandbox must outlive it
        p = sb.exec("sh", "-c", "sleep 3; echo done")
        assert p.stdout.read() == "done\n"
        assert p.wait() == 0
        assert sb.poll() is None
        # activity through files counts too
        sb.ls("/")
        assert sb.poll() is None
        with pytest.raises(SandboxTimeoutError):  # and then, idle, it ends
            sb.wait()
        assert sb.info()["state"] == "timeout"
    finally:
        sb.terminate()


def test_tcp_probe_waits_for_the_listener(app):
    server = (
        "import socket, time; time.sleep(1); s = socket.socket();"
        " s.bind(('127.0.0.1', 8123)); s.listen(); open('/tmp/up', 'w').close(); time.sleep(600)"
    )
    sb = gw.Sandbox.create("python", "-c", server, app=app, readiness_probe=gw.Probe.with_tcp(8123))
    try:
        sb.wait_until_ready(timeout=60)
        # it listens by the time it is ready
        assert sb.exec("test", "-f", "/tmp/up").wait() == 0
    finally:
        sb.terminate()


def test_exec_probe_and_its_timeout(app):
    probe = gw.Probe.with_exec("test", "-f", "/tmp/ready", interval_ms=50)
    sb = gw.Sandbox.create(app=app, readiness_probe=probe)
    try:
        with pytest.raises(TimeoutError, match="not ready"):
            sb.wait_until_ready(timeout=0.5)
        sb.exec("touch", "/tmp/ready").wait()
        sb.wait_until_ready(timeout=60)
        asyncio.run(sb.wait_until_ready.aio(timeout=5))
    finally:
        sb.terminate()


def test_wait_until_ready_on_an_ended_sandbox_or_without_a_probe(app):
    probe = gw.Probe.with_exec("false")
    sb = gw.Sandbox.create("sh", "-c", "exit 2", app=app, readiness_probe=probe)
    with pytest.raises(SandboxTerminatedError, match="before it was ready"):
        sb.wait_until_ready(timeout=60)
    plain = gw.Sandbox.create(app=app)
    try:
        with pytest.raises(InvalidError, match="no readiness_probe"):
            plain.wait_until_ready(timeout=1)
    finally:
        plain.terminate()


def test_bad_probes_and_idle_timeouts_are_refused(app):
    with pytest.raises(InvalidError, match="port"):
        gw.Probe.with_tcp(70000)
    with pytest.raises(InvalidError, match="command"):
        gw.Probe.with_exec()
    with pytest.raises(InvalidError, match="interval_ms"):
        gw.Probe.with_tcp(80, interval_ms=0)
    with pytest.raises(InvalidError, match="readiness_probe"):
        gw.Sandbox.create(app=app, readiness_probe=gw.Probe.on("check"))
    with pytest.raises(InvalidError, match="idle_timeout"):
        gw.Sandbox.create(app=app, idle_timeout=0)


def test_detach_leaves_the_sandbox_running(app):
    sb = gw.Sandbox.create(app=app)
    sb.detach()
    with pytest.raises(InvalidError, match="detached"):
        sb.exec("true")
    again = gw.Sandbox.from_id(sb.object_id)
    try:
        assert again.exec("echo", "still here").stdout.read() == "still here\n"
    finally:
        again.terminate()
