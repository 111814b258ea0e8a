"""Sandboxes through the real control plane: commands, stdio, life cycle, names, options."""

from __future__ import annotations

import uuid

import pytest

import gworker_client as gw
from gworker_client.exception import (
    AlreadyExistsError,
    InvalidError,
    NotFoundError,
    SandboxTerminatedError,
    SandboxTimeoutError,
)

APP = "sandbox-tests"


@pytest.fixture(scope="module")
def app(server):
    return gw.App.lookup(APP, create_if_missing=True)


def test_main_command_output_and_exit(app):
    sb = gw.Sandbox.create("sh", "-c", "echo out; echo err >&2; exit 3", app=app)
    assert sb.object_id.startswith("sb-")
    assert sb.stdout.read() == "out\n"
    assert sb.stderr.read() == "err\n"
    sb.wait()
    assert sb.returncode == 3
    assert sb.poll() == 3


def test_exec_with_stdin_stdout_stderr(app):
    sb = gw.Sandbox.create(app=app)
    try:
        assert sb.poll() is None
        p = sb.exec(
            "python",
            "-c",
            "import sys; d = sys.stdin.read(); print(d.upper());"
            " print('note', file=sys.stderr); sys.exit(len(d))",
        )
        p.stdin.write("hello ")
        p.stdin.write(b"world")
        p.stdin.write_eof()
        p.stdin.drain()
        assert p.stdout.read() == "HELLO WORLD\n"
        assert p.stderr.read() == "note\n"
        assert p.wait() == 11
        assert p.returncode == 11 and p.poll() == 11
    finally:
        sb.terminate()


def test_output_lines_arrive_while_the_command_runs(app):
    sb = gw.Sandbox.create(app=app)
    try:
        # the second line needs input that is sent only after the first line was read: the
        # first must arrive while the command is still running
        p = sb.exec("python", "-u", "-c", "print('first'); input(); print('second')")
        lines = iter(p.stdout)
        assert next(lines) == "first\n"
        assert p.poll() is None
        p.stdin.write("go\n")
        p.stdin.drain()
        assert next(lines) == "second\n"
        assert list(lines) == []
        assert p.wait() == 0
    finally:
        sb.terminate()


def test_missing_command_exits_127_like_a_shell(app):
    sb = gw.Sandbox.create(app=app)
    try:
        p = sb.exec("no-such-command-here", "x")
        assert p.wait() == 127
        assert "no-such-command-here: command not found" in p.stderr.read()
        p = sb.exec("/etc/passwd")
        assert p.wait() == 126
        p = sb.exec("ls", workdir="/no/such/dir")
        assert p.wait() == 1
        assert "/no/such/dir" in p.stderr.read()
    finally:
        sb.terminate()
    main = gw.Sandbox.create("no-such-main-command", app=app)
    main.wait()
    assert main.returncode == 127
    assert "command not found" in main.stderr.read()


def test_env_secrets_and_workdir(app):
    sb = gw.Sandbox.create(
        app=app,
        env={"GREETING": "hi"},
        secrets=[gw.Secret.from_dict({"TOKEN_X": "s3cret"})],
        workdir="/work/here",
    )
    try:
        p = sb.exec("sh", "-c", 'echo "$GREETING $TOKEN_X $EXTRA $(pwd)"', env={"EXTRA": "more"})
        assert p.stdout.read() == "hi s3cret more /work/here\n"
        p = sb.exec("pwd", workdir="/tmp")
        assert p.stdout.read() == "/tmp\n"
    finally:
        sb.terminate()


def test_terminate_then_exec_is_a_clear_error(app):
    sb = gw.Sandbox.create("sleep", "300", app=app)
    sb.terminate()
    with pytest.raises(SandboxTerminatedError):
        sb.wait()
    sb.wait(raise_on_termination=False)
    assert sb.returncode == 137
    with pytest.raises(InvalidError, match="not running"):
        sb.exec("echo", "late")


def test_timeout_ends_it(app):
    sb = gw.Sandbox.create("sleep", "300", app=app, timeout=2)
    with pytest.raises(SandboxTimeoutError):
        sb.wait()
    assert sb.returncode == 124
    assert "timeout" in sb.info()["info"]


def test_exec_timeout_kills_the_command(app):
    sb = gw.Sandbox.create(app=app)
    try:
        p = sb.exec("sleep", "300", timeout=1)
        assert p.wait() == 124
        assert sb.exec("echo", "still here").stdout.read() == "still here\n"
    finally:
        sb.terminate()


def test_from_id_from_name_and_list(app):
    name = f"named-{uuid.uuid4().hex[:8]}"
    sb = gw.Sandbox.create(app=app, name=name)
    try:
        with pytest.raises(AlreadyExistsError, match=name):
            gw.Sandbox.create(app=app, name=name)
        same = gw.Sandbox.from_name(APP, name)
        assert same.object_id == sb.object_id
        assert same.exec("echo", "via name").stdout.read() == "via name\n"
        assert gw.Sandbox.from_id(sb.object_id).object_id == sb.object_id
        ids = [s.object_id for s in gw.Sandbox.list(app_id=app.app_id)]
        assert sb.object_id in ids
    finally:
        sb.terminate()
    assert sb.object_id not in [s.object_id for s in gw.Sandbox.list(app_id=app.app_id)]
    with pytest.raises(NotFoundError, match=name):
        gw.Sandbox.from_name(APP, name)
    ended = gw.Sandbox.from_id(sb.object_id)  # an ended sandbox is still known by id
    assert ended.returncode == 137
    # the name is free again once its sandbox ended
    gw.Sandbox.create("true", app=app, name=name).wait()


def test_unknown_ids_and_names(app):
    with pytest.raises(NotFoundError, match="sb-doesnotexist"):
        gw.Sandbox.from_id("sb-doesnotexist")
    with pytest.raises(NotFoundError):
        gw.Sandbox.from_name(APP, "never-created")
    with pytest.raises(NotFoundError):
        gw.Sandbox("sb-doesnotexist").exec("echo")


@pytest.mark.parametrize(
    "option",
    [
        {"h2_ports": [8000]},
        {"network_file_systems": {"/nfs": "x"}},
        {"region": "us-east"},
        {"idle_timeout": 0},
        {"readiness_probe": "tcp"},
    ],
)
def test_options_not_offered_are_refused_by_name(app, option):
    (key,) = option
    with pytest.raises(InvalidError, match=key) as refused:
        gw.Sandbox.create(app=app, **option)
    assert key == "proxy" or "outbound network" not in str(refused.value)  # its own reason


def test_exec_timeout_of_the_wrong_type_is_refused(app):
    sb = gw.Sandbox.create(app=app)
    try:
        with pytest.raises(InvalidError, match="timeout='5'"):
            sb.exec("true", timeout="5")  # type: ignore[arg-type]
    finally:
        sb.terminate()


def test_bad_arguments_are_refused_early(app):
    with pytest.raises(InvalidError, match="app="):
        gw.Sandbox.create("echo")
    with pytest.raises(InvalidError, match="unknown option"):
        gw.Sandbox.create(app=app, not_an_option=1)
    with pytest.raises(InvalidError, match="volumes"):
        gw.Sandbox.create(app=app, volumes=["/data"])
    with pytest.raises(InvalidError, match="timeout"):
        gw.Sandbox.create(app=app, timeout=0)
    with pytest.raises(InvalidError, match="workdir"):
        gw.Sandbox.create(app=app, workdir="relative")
    with pytest.raises(InvalidError, match="strings"):
        gw.Sandbox.create("echo", 1, app=app)  # type: ignore[arg-type]
    with pytest.raises(InvalidError, match="memory"):
        gw.Sandbox.create(app=app, memory=-1)


def test_network_namespace_with_and_without_network(app):
    routed = gw.Sandbox.create("cat", "/proc/net/dev", app=app)
    assert "tap0" in routed.stdout.read()
    cut_off = gw.Sandbox.create("cat", "/proc/net/dev", app=app, block_network=True)
    devices = cut_off.stdout.read()
    assert "tap0" not in devices and "lo:" in devices


def test_a_restart_ends_sandboxes_and_says_so(private_server):
    app = gw.App.lookup("restart-sandboxes", create_if_missing=True)
    sb = gw.Sandbox.create("sleep", "300", app=app)
    private_server.restart()
    after = gw.Sandbox.from_id(sb.object_id)
    assert after.returncode == 137
    assert "restart" in after.info()["info"]
    with pytest.raises(InvalidError, match="not running"):
        after.exec("echo")


def test_cli_lists_shows_logs_and_stops(server, app):
    sb = gw.Sandbox.create("sh", "-c", "echo from-main; echo oops >&2; sleep 300", app=app)
    assert next(iter(sb.stdout)) == "from-main\n"
    listed = server.gw("sandbox", "list", "--app", APP)
    assert listed.returncode == 0, listed.stderr
    assert sb.object_id in listed.stdout + listed.stderr
    logs = server.gw("sandbox", "logs", sb.object_id)
    assert logs.returncode == 0, logs.stderr
    assert "from-main" in logs.stdout and "oops" in logs.stderr
    stopped = server.gw("sandbox", "stop", sb.object_id)
    assert stopped.returncode == 0, stopped.stderr
    assert "terminated" in stopped.stderr
    assert gw.Sandbox.from_id(sb.object_id).returncode == 137
    followed = server.gw("sandbox", "logs", "--follow", sb.object_id)
    assert "from-main" in followed.stdout
    missing = server.gw("sandbox", "stop", "sb-nosuchsandbox")
    assert missing.returncode != 0 and "sb-nosuchsandbox" in missing.stderr


def test_stopping_the_app_ends_its_sandboxes(server):
    app = gw.App.lookup(f"stopped-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    sb = gw.Sandbox.create("sleep", "300", app=app)
    stopped = server.gw("app", "stop", app.app_id)
    assert stopped.returncode == 0, stopped.stderr
    sb.wait(raise_on_termination=False)
    assert sb.returncode == 137
    assert "app was stopped" in sb.info()["info"]


def test_sandbox_async_forms(server):
    import asyncio

    async def main() -> tuple[str, int]:
        app = gw.App.lookup("sandbox-aio", create_if_missing=True)
        sb = await gw.Sandbox.create.aio(app=app, timeout=60)
        p = await sb.exec.aio("sh", "-c", "echo one; echo two")
        lines = [line async for line in p.stdout]
        code = await p.wait.aio()
        await sb.terminate.aio()
        return "".join(lines), code

    assert asyncio.run(main()) == ("one\ntwo\n", 0)
