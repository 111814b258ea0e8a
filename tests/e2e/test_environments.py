"""Environments as server objects: create, list, update, delete; ``--env`` on commands; the
same app deployed to two environments; unknown environments refused with the fix."""

from __future__ import annotations

import json
import uuid

import httpx
import inside_app
import pytest

import gworker_client as gw
from gworker_client import environments

APP = """
import gworker_client as gw

app = gw.App("twin")


@app.function()
def where() -> str:
    # no environment_name: a lookup from inside defaults to the app's own environment
    return gw.Dict.from_name("env-marker")["k"]


@app.function()
@gw.asgi_app()
def page() -> object:
    async def asgi(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"twin page"})

    return asgi
"""


def _flat(r) -> str:  # type: ignore[no-untyped-def]
    """A command's stderr with rich's line wrapping undone."""
    return " ".join(r.stderr.split())


def _env() -> str:
    return f"env-{uuid.uuid4().hex[:8]}"


def test_cli_create_list_update_delete(server):
    name = _env()
    r = server.gw("environment", "create", name)
    assert r.returncode == 0 and f"Environment created: {name}" in r.stdout, r.stderr
    again = server.gw("environment", "create", name)
    assert again.returncode == 1 and "already exists" in _flat(again)
    listed = server.gw("environment", "list", "--json")
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["main"]["web_suffix"] == "" and rows[name]["web_suffix"] == name
    bad = server.gw("environment", "create", "no spaces")
    assert bad.returncode == 1 and "environment name 'no spaces' is not valid" in _flat(bad)

    r = server.gw("environment", "update", name, "--set-web-suffix", "qa")
    assert r.returncode == 0, r.stderr
    assert {e.name: e.web_suffix for e in environments.list_environments()}[name] == "qa"
    bad = server.gw("environment", "update", name, "--set-web-suffix", "Not OK")
    assert bad.returncode == 1 and "web suffix 'Not OK' is not valid" in _flat(bad)
    clash = server.gw("environment", "update", name, "--set-web-suffix", "")
    assert clash.returncode == 1 and "environment 'main' already uses the web suffix ''" in _flat(
        clash
    )

    main = server.gw("environment", "delete", "main", "--yes")
    assert main.returncode == 1 and "cannot be deleted" in _flat(main)
    r = server.gw("environment", "delete", name, "--yes")
    assert r.returncode == 0, r.stderr
    assert name not in {e.name for e in environments.list_environments()}


def test_unknown_environment_is_a_404_naming_the_fix(server):
    with pytest.raises(gw.exception.NotFoundError, match="gw environment create nowhere-1"):
        gw.Dict.from_name("d", environment_name="nowhere-1", create_if_missing=True).put("k", 1)
    with pytest.raises(gw.exception.NotFoundError, match="gw environment create nowhere-1"):
        gw.Function.from_name("app", "f", environment_name="nowhere-1").hydrate()
    r = server.gw("dict", "list", "--env", "nowhere-1")
    assert r.returncode == 1 and "gw environment create nowhere-1" in _flat(r)
    r = server.gw("secret", "create", "s", "K=v", "-e", "nowhere-1")
    assert r.returncode == 1 and "no environment named 'nowhere-1'" in _flat(r)


def test_one_app_in_two_environments(server, tmp_path):
    env = _env()
    environments.create_environment(env)
    app_file = tmp_path / "twin_app.py"
    app_file.write_text(APP)
    gw.Dict.from_name("env-marker", create_if_missing=True)["k"] = "main"
    r = server.gw("dict", "create", "env-marker", "--env", env)
    assert r.returncode == 0, r.stderr
    gw.Dict.from_name("env-marker", environment_name=env)["k"] = env

    for args in ((), ("--env", env)):
        r = server.gw("deploy", str(app_file), *args)
        assert r.returncode == 0, r.stderr
    # each deployment is its own, and looks up named objects in its own environment
    assert gw.Function.from_name("twin", "where").remote() == "main"
    assert gw.Function.from_name("twin", "where", environment_name=env).remote() == env
    main_url = gw.Function.from_name("twin", "page").get_web_url()
    env_url = gw.Function.from_name("twin", "page", environment_name=env).get_web_url()
    assert main_url.endswith("/web/twin-page") and env_url.endswith(f"/web/{env}--twin-page")
    for url in (main_url, env_url):
        assert httpx.get(url, timeout=120).text == "twin page"
    listed = server.gw("app", "list", "-e", env)
    assert "twin" in listed.stderr + listed.stdout

    # deleting the environment stops its app and deletes its objects; main's stay
    environments.delete_environment(env)
    assert httpx.get(env_url, timeout=30).status_code == 404
    assert gw.Function.from_name("twin", "where").remote() == "main"
    with pytest.raises(gw.exception.NotFoundError, match=f"gw environment create {env}"):
        gw.Dict.from_name("env-marker", environment_name=env)["k"]
    environments.create_environment(env)  # a new one of the same name starts empty
    with pytest.raises(gw.exception.NotFoundError, match="no dict named 'env-marker'"):
        gw.Dict.from_name("env-marker", environment_name=env)["k"]
    r = server.gw("app", "stop", "twin")
    assert r.returncode == 0, r.stderr


def test_run_and_deploy_take_environment_name(server):
    from basic_app import app, square

    env = _env()
    environments.create_environment(env)
    with app.run(environment_name=env):
        assert square.remote(4) == 16
        apps = {a.name: a for a in environments.list_environments()}
        assert apps[env].apps == 1
    missing = pytest.raises(gw.exception.NotFoundError, match="gw environment create nowhere-2")
    with missing, app.run(environment_name="nowhere-2"):
        pass


def test_rename_moves_what_the_environment_holds(server):
    old, new = _env(), _env()
    environments.create_environment(old)
    gw.Dict.from_name("kept", environment_name=old, create_if_missing=True)["k"] = "v"
    from basic_app import app

    refused = pytest.raises(gw.exception.InvalidError, match=r"has running apps \(basic\)")
    with app.run(environment_name=old), refused:  # a running app: renaming now is refused
        environments.update_environment(old, new_name=new)
    environments.update_environment(old, new_name=new)
    assert gw.Dict.from_name("kept", environment_name=new)["k"] == "v"
    with pytest.raises(gw.exception.NotFoundError, match=f"gw environment create {old}"):
        gw.Dict.from_name("kept", environment_name=old)["k"]
    suffixes = {e.name: e.web_suffix for e in environments.list_environments()}
    assert suffixes[new] == new  # a suffix nobody chose follows the name
    with pytest.raises(gw.exception.InvalidError, match="cannot be renamed"):
        environments.update_environment("main", new_name=_env())
    with pytest.raises(gw.exception.AlreadyExistsError, match="already exists"):
        environments.update_environment(new, new_name="main")


def test_a_containers_token_cannot_manage_environments(server):
    name = _env()
    with inside_app.app.run():
        answers = inside_app.manage_environments.remote(name)
    assert all(a.startswith("refused:") and "needs admin" in a for a in answers), answers
    assert name not in [e.name for e in environments.list_environments()]


def test_env_with_an_app_id_of_another_environment_is_refused(server):
    app_id = gw.App.lookup(f"idref-{uuid.uuid4().hex[:6]}", create_if_missing=True).app_id
    env = _env()
    assert server.gw("environment", "create", env).returncode == 0
    r = server.gw("app", "logs", app_id, "--env", env)
    assert r.returncode != 0 and f"is in environment 'main', not {env!r}" in _flat(r)
    # without --env an id names its app wherever it is
    other = gw.App.lookup("idref-dev", environment_name=env, create_if_missing=True).app_id
    r = server.gw("app", "logs", other)
    assert r.returncode == 0, r.stderr
