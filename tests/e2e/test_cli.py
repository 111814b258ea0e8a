"""The real `gw` CLI against a real control plane."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello.py"


def gw(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "gworker.cli", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_local_entrypoint_with_options(server):
    r = gw("run", str(HELLO), "--name", "Ada", "--times", "3", env=server.env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Hello, Ada!") == 3
    assert r.stdout.count("running remotely") == 3  # container output streamed back


def test_run_one_function(server):
    r = gw("run", f"{HELLO}::hello", "--name", "Ada", env=server.env)
    assert r.returncode == 0, r.stderr
    assert "Hello, Ada!" in r.stdout


def test_run_help_lists_the_entrypoint_options(server):
    r = gw("run", str(HELLO), "--help", env=server.env)
    assert r.returncode == 0, r.stderr
    assert "--name" in r.stdout and "--times" in r.stdout


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("missing.py", "file 'missing.py' does not exist"),
        (f"{HELLO}::nope", "'nope' is not in app 'my-app'"),
    ],
)
def test_run_bad_references(server, ref, message):
    r = gw("run", ref, env=server.env)
    assert r.returncode != 0
    assert message in r.stderr


def test_run_file_without_app(server, tmp_path):
    (tmp_path / "plain.py").write_text("x = 1\n")
    r = gw("run", str(tmp_path / "plain.py"), env=server.env)
    assert r.returncode != 0
    assert "defines no gworker App" in r.stderr


def test_run_bad_option_value(server):
    r = gw("run", str(HELLO), "--times", "many", env=server.env)
    assert r.returncode != 0
    assert "'many' is not a valid integer" in r.stderr


def test_deploy_list_call_logs_and_stop(server, tmp_path):
    app_file = tmp_path / "deployed_app.py"
    app_file.write_text(
        textwrap.dedent(
            """
            import gworker_client as gw

            app = gw.App("cli-deployed")

            @app.function()
            def triple(x: int) -> int:
                print(f"tripling {x}")
                return 3 * x
            """
        )
    )
    r = gw("deploy", str(app_file), env=server.env)
    assert r.returncode == 0, r.stderr
    assert "triple" in r.stderr and "cli-deployed" in r.stderr

    call = (
        "import gworker_client as gw;"
        "print(gw.Function.from_name('cli-deployed', 'triple').remote(5))"
    )
    out = subprocess.run(
        [sys.executable, "-c", call],
        env={**os.environ, **server.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "15", out.stderr

    listed = gw("app", "list", env={**server.env, "COLUMNS": "200"})
    assert "cli-deployed" in listed.stderr and "deployed" in listed.stderr

    logs = gw("app", "logs", "cli-deployed", env=server.env)
    assert "tripling 5" in logs.stdout

    stopped = gw("app", "stop", "cli-deployed", env=server.env)
    assert stopped.returncode == 0, stopped.stderr
    again = subprocess.run(
        [sys.executable, "-c", call],
        env={**os.environ, **server.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "NotFoundError" in again.stderr


def test_token_new(server):
    r = gw("token", "new", env=server.env)
    assert r.returncode == 0, r.stderr
    assert "GW_TOKEN_ID=tk-" in r.stdout and "GW_TOKEN_SECRET=" in r.stdout


def test_zero_setup_autostarts_a_local_server(tmp_path):
    """No GW_SERVER_URL: the CLI starts a server under GW_HOME, with a 0600 token file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
    env["GW_HOME"] = str(tmp_path / "home")
    try:
        r = subprocess.run(
            [sys.executable, "-m", "gworker.cli", "run", f"{HELLO}::hello", "--name", "Zero"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert "Hello, Zero!" in r.stdout
        token = tmp_path / "home" / "token.json"
        assert token.stat().st_mode & 0o777 == 0o600
        status = subprocess.run(
            [sys.executable, "-m", "gworker.cli", "server", "status"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0 and "local" in status.stderr
    finally:
        stop = subprocess.run(
            [sys.executable, "-m", "gworker.cli", "server", "stop"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert "stopped" in stop.stderr
