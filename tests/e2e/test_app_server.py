"""``@app.server`` classes: an HTTP server started by an @enter method, served by the gateway at
``get_url()``; proxy auth by default; a server that never listens is a clear failure."""

from __future__ import annotations

import httpx
import pytest
import server_app

import gworker_client as gw


def test_server_class_is_served_through_the_gateway(server):
    with server_app.app.run():
        url = server_app.FileServer.get_url()
        assert url.endswith("/web/server-app-fileserver-dev")
        assert server_app.FileServer.get_urls() == {"us-east": url, "eu-west": url}
        r = httpx.get(url + "/hello.txt", timeout=120)
        assert r.status_code == 200 and r.text == "served by an @app.server class"
        # not unauthenticated: proxy-auth headers are required, before any container starts
        private = httpx.get(server_app.Private.get_url(), timeout=120)
        assert private.status_code == 401


def test_a_server_that_never_listens_says_so(server):
    with server_app.silent.run():
        r = httpx.get(server_app.NeverListens.get_url(), timeout=120)
        assert r.status_code == 503
    logs = server.gw("app", "logs", "server-silent")
    text = " ".join((logs.stdout + logs.stderr).split())
    assert "@app.server(port=28743): nothing accepted connections on port 28743" in text
    assert "an @enter method must start a server" in text


def test_bad_arguments_are_refused():
    app = gw.App("server-bad")
    with pytest.raises(gw.exception.InvalidError, match="expected an int from 1 to 65535"):
        app.server(port=0)
    with pytest.raises(gw.exception.InvalidError, match="expected a list of region names"):
        app.server(proxy_regions="us-east")
    with pytest.raises(gw.exception.InvalidError, match="h2_enabled=True"):
        app.server(h2_enabled=True)
    with pytest.raises(gw.exception.InvalidError, match="exit_grace_period=5"):
        app.server(exit_grace_period=5)
    with pytest.raises(gw.exception.InvalidError, match="target_concurrency=0"):
        app.server(target_concurrency=0)
    with pytest.raises(gw.exception.InvalidError, match="forget the parentheses"):
        app.server(object, port=8000)  # type: ignore[call-overload]
    with pytest.raises(gw.exception.InvalidError, match="unknown keyword argument 'gpus'"):
        app.server(port=8000, gpus=1)


def test_from_name_keeps_the_deployed_proxy_regions(server):
    server_app.app.deploy()
    try:
        urls = gw.Server.from_name("server-app", "FileServer").get_urls()
        assert sorted(urls) == ["eu-west", "us-east"]
    finally:
        assert server.gw("app", "stop", "server-app").returncode == 0
