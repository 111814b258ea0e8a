"""The dashboard in a real browser: log in with a link, watch an app, its calls, a failure's
remote traceback and its logs appear live (no reloads), and every page renders."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import dashboard_app
import pytest

import gworker_client as gw
from gworker_client import environments

SHOTS = os.environ.get("GW_DASHBOARD_SCREENSHOTS")  # a directory: keep each page's screenshot
PAGES = ["apps", "app", "container", "images", "volumes", "secrets", "objects", "gpus", "usage"]


def _login_url(server) -> str:
    r = server.gw("dashboard", "--url")
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert url.startswith(server.url + "/dashboard/#link=dl-")
    return url


def _shot(page, name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SHOTS) / path.name)


def test_without_a_token_the_page_asks_for_one_and_refuses_a_bad_one(server, page) -> None:
    page.goto(server.url + "/dashboard/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token-input", "tk-nobody:wrong")
    page.click("#login-form button")
    page.wait_for_selector("#login-error:has-text('not valid')")


def test_a_user_token_typed_in_logs_in(server, page) -> None:
    page.goto(server.url + "/dashboard/")
    page.fill("#token-input", f"{server.env['GW_TOKEN_ID']}:{server.env['GW_TOKEN_SECRET']}")
    page.click("#login-form button")
    page.wait_for_selector("h1:has-text('Apps')")


def test_a_link_works_once(server, page) -> None:
    url = _login_url(server)
    page.goto(url)
    page.wait_for_selector("h1:has-text('Apps')")
    assert "link=" not in page.url  # the link leaves the address bar at once
    other = page.context.browser.new_page()
    other.goto(url)
    other.wait_for_selector("#login-error:has-text('not valid')")
    other.close()


def test_the_api_needs_a_token(server) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server.url + "/dashboard/api/apps")
    assert e.value.code == 401
    assert "gw dashboard --url" in json.loads(e.value.read())["error"]["message"]
    with urllib.request.urlopen(server.url + "/dashboard/") as r:  # the page itself holds no data
        assert b"gworker dashboard" in r.read()


def test_an_app_its_calls_a_failure_and_its_logs_appear_live(server, page, tmp_path) -> None:
    page.goto(_login_url(server))
    page.wait_for_selector("h1:has-text('Apps')")
    with dashboard_app.app.run():
        app_id = dashboard_app.app.app_id
        page.wait_for_selector(f"a[href='#/app/{app_id}']")  # appears without a reload
        _shot(page, "apps", tmp_path)
        page.click(f"a[href='#/app/{app_id}']")
        page.wait_for_selector("h2:has-text('Functions and classes')")
        assert dashboard_app.greet.remote("Ada") == "Hello, Ada!"
        with pytest.raises(ValueError):
            dashboard_app.explode.remote()
        page.wait_for_selector("td.status-success")
        page.wait_for_selector("pre.tb:has-text('ValueError: the dashboard shows this traceback')")
        page.wait_for_selector("#logs:has-text('hello from the dashboard app, Ada')")
        page.wait_for_selector("#calls-chart canvas")  # uPlot drew calls per minute
        _shot(page, "app", tmp_path)
        page.click("tr:has(td.status-success) a[href^='#/container/']")  # greet's container
        page.wait_for_selector("h1:has-text('Container ct-')")
        page.wait_for_selector("#logs:not(:empty)")
        _shot(page, "container", tmp_path)
        assert dashboard_app.greet.remote("Grace") == "Hello, Grace!"
        page.wait_for_selector("#logs:has-text('Grace')")  # the container's log follows


@pytest.fixture(scope="module")
def named_objects(server, tmp_path_factory):
    """One of each kind of named object, for the pages that list them."""
    import gworker_client as gw

    d = gw.Dict.from_name("dashboard-dict", create_if_missing=True)
    d["model"] = "bert"
    q = gw.Queue.from_name("dashboard-jobs", create_if_missing=True)
    q.put_many(["a", "b", "c"])
    local = tmp_path_factory.mktemp("vol") / "weights.bin"
    local.write_bytes(b"0" * 4096)
    vol = gw.Volume.from_name("dashboard-models", create_if_missing=True)
    with vol.batch_upload(force=True) as batch:
        batch.put_file(local, "/bert/weights.bin")
    r = server.gw("secret", "create", "dashboard-api-key", "API_KEY=not-shown", "--force")
    assert r.returncode == 0, r.stderr
    return vol


@pytest.mark.parametrize("name", ["images", "volumes", "secrets", "objects", "gpus", "usage"])
def test_every_page_renders(server, page, tmp_path, named_objects, name: str) -> None:
    page.goto(_login_url(server))
    page.wait_for_selector("h1:has-text('Apps')")
    page.goto(server.url + f"/dashboard/#/{name}")
    heading = {"objects": "Dicts", "gpus": "GPU inventory", "usage": "Usage and cost"}
    page.wait_for_selector(f"h1:has-text('{heading.get(name, name.capitalize())}')")
    if name == "usage":
        page.wait_for_selector("#cost-chart canvas, .empty")
    if name == "volumes":
        page.click("a:has-text('dashboard-models')")
        page.click("a:has-text('bert/')")
        page.wait_for_selector("td:has-text('bert/weights.bin')")
    if name == "secrets":
        page.wait_for_selector("td:has-text('dashboard-api-key')")
        assert "not-shown" not in page.content() and "API_KEY" not in page.content()
    if name == "objects":
        page.wait_for_selector("tr:has-text('dashboard-jobs') td.num:has-text('3')")
    _shot(page, name, tmp_path)


def test_without_a_display_gw_dashboard_prints_the_url(server) -> None:
    r = server.gw("dashboard", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(server.url + "/dashboard/#link=dl-")
    assert "open this URL" in r.stderr


def test_the_environment_selector_shows_that_environments_objects(server, page) -> None:
    env, name = f"sel-{uuid.uuid4().hex[:6]}", f"d-{uuid.uuid4().hex[:8]}"
    environments.create_environment(env)
    gw.Dict.from_name(name, environment_name=env, create_if_missing=True)["k"] = 1
    page.goto(_login_url(server))
    page.wait_for_selector("h1:has-text('Apps')")
    page.evaluate("location.hash = '#/objects'")
    page.wait_for_selector("h1:has-text('Dicts')")
    assert name not in page.inner_text("#view")  # main's objects
    page.wait_for_selector(f"#env-select option[value='{env}']", state="attached")
    page.select_option("#env-select", env)
    page.wait_for_selector(f"td:has-text('{name}')")
