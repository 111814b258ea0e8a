"""The dashboard's JSON API without a browser: environments named in queries are checked as the
API checks them, and the usage view's window is bounded."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

import gworker_client as gw
from gworker_client import environments


def _get(server, path: str) -> tuple[int, dict]:
    token = f"{server.env['GW_TOKEN_ID']}:{server.env['GW_TOKEN_SECRET']}"
    req = urllib.request.Request(
        server.url + "/dashboard/api" + path, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_an_unknown_environment_is_a_404_and_a_known_one_is_shown(server) -> None:
    for view in ("/apps", "/objects", "/usage"):
        status, body = _get(server, f"{view}?env=no-such-env")
        assert status == 404, (view, body)
        assert "gw environment create no-such-env" in body["error"]["message"]
    env = f"dash-{uuid.uuid4().hex[:8]}"
    environments.create_environment(env)
    name = f"d-{uuid.uuid4().hex[:8]}"
    gw.Dict.from_name(name, environment_name=env, create_if_missing=True)["k"] = 1
    status, body = _get(server, f"/objects?env={env}")
    assert status == 200 and [d["name"] for d in body["dicts"]] == [name]
    assert name not in [d["name"] for d in _get(server, "/objects")[1]["dicts"]]  # main
    assert env in _get(server, "/environments")[1]["environments"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("bucket=0s", "bucket='0s'"),
        ("bucket=30s", "bucket='30s'"),
        ("since=1000w&bucket=1m", "since='1000w'"),
        ("bucket=abc", "bucket="),
    ],
)
def test_the_usage_window_is_bounded(server, query: str, named: str) -> None:
    status, body = _get(server, f"/usage?{query}")
    assert status == 400 and named in body["error"]["message"], body


def test_a_broken_price_table_is_a_400(private_server) -> None:
    (private_server.home / "prices.json").write_text("{not json")
    status, body = _get(private_server, "/usage")
    assert status == 400 and "prices" in body["error"]["message"].lower(), body


def test_the_images_view_lists_the_image_store(server) -> None:
    import basic_app

    with basic_app.app.run():
        assert basic_app.square.remote(3) == 9
        status, body = _get(server, "/images")
    assert status == 200
    assert body["built"], body  # the app's image, built for it
    image = body["built"][0]
    assert len(image["key"]) == 16 and image["layers"] >= 1 and image["mib"] > 0
