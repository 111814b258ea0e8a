"""``gw container list|logs|exec|stop`` on a running function container and a sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shell_app

import gworker_client as gw


@pytest.fixture(scope="module")
def warm(server) -> Iterator[str]:
    """A function container that has run once and waits for more (its id)."""
    with shell_app.app.run():
        assert shell_app.work.remote() == "worked"
        r = server.gw("container", "list", env={"COLUMNS": "250"})
        assert r.returncode == 0, r.stderr
        ids = [w for w in r.stderr.split() if w.startswith("ct-")]  # tables go to stderr
        assert ids, r.stderr
        yield ids[0]


def test_list_shows_containers_and_sandboxes(server, warm):
    sb = gw.Sandbox.create(app=gw.App.lookup("container-cli", create_if_missing=True))
    try:
        r = server.gw("container", "list", env={"COLUMNS": "250"})
        assert warm in r.stderr and sb.object_id in r.stderr
        assert "function" in r.stderr and "sandbox" in r.stderr
    finally:
        sb.terminate()


def test_exec_runs_in_the_containers_own_view(server, warm):
    r = server.gw("container", "exec", warm, "sh", "-c", "cat /tmp/worked; echo $FROM_IMAGE")
    assert (r.returncode, r.stdout) == (0, "yesimage-env\n"), r.stderr
    # its secrets are not handed to commands, nor its token
    r = server.gw("container", "exec", warm, "sh", "-c", "env | grep -c GW_TOKEN; exit 4")
    assert (r.returncode, r.stdout.strip()) == (4, "0")
    r = server.gw("container", "exec", warm, "no-such-command")
    assert r.returncode == 127 and "not found" in r.stderr


def test_an_attached_container_answers_only_a_users_token(server, warm):
    assert server.gw("container", "exec", warm, "true").returncode == 0  # attached now
    assert shell_app.exec_from_inside.remote(warm).startswith("refused: ")
    assert warm not in [sb.object_id for sb in gw.Sandbox.list()]  # not in the sandbox table


def test_shell_into_a_running_container(server, warm):
    r = server.gw("shell", warm, "--cmd", "cat /tmp/worked")
    assert (r.returncode, r.stdout) == (0, "yes"), r.stderr


def test_logs_of_a_function_container(server, warm):
    r = server.gw("container", "logs", warm)
    assert r.returncode == 0 and "working on it" in r.stdout


def test_exec_logs_and_stop_on_a_sandbox(server):
    sb = gw.Sandbox.create(
        "sh",
        "-c",
        "echo main says hi; sleep 600",
        app=gw.App.lookup("container-cli", create_if_missing=True),
    )
    r = server.gw("container", "exec", sb.object_id, "echo", "from exec")
    assert (r.returncode, r.stdout) == (0, "from exec\n")
    assert "main says hi" in server.gw("container", "logs", sb.object_id).stdout
    assert server.gw("container", "stop", sb.object_id).returncode == 0
    sb.wait(raise_on_termination=False)
    assert sb.returncode == 137


def test_stop_a_function_container(server, warm):
    r = server.gw("container", "stop", warm)
    assert r.returncode == 0, r.stderr
    r = server.gw("container", "exec", warm, "true")
    assert r.returncode != 0


def test_a_containers_token_cannot_list_or_stop_containers(warm):
    # the container scope refuses it before the route's own check (a user's token only)
    answer = shell_app.list_running_from_inside.remote()
    assert answer.startswith("refused:") and "may not GET /v1/running" in answer


def test_unknown_ids_are_clear_errors(server):
    r = server.gw("container", "stop", "ct-nope")
    assert r.returncode != 0 and "no running container" in r.stderr
    r = server.gw("container", "exec", "ct-nope", "true")
    assert r.returncode != 0 and "no running container" in r.stderr
