"""Web endpoints through the gateway: real HTTP and WebSocket clients against real containers."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
import web_app
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

import gworker_client as gw

TIMEOUT = 120.0


@pytest.fixture(scope="module")
def running(server):
    with web_app.app.run():
        yield web_app.app


def test_get_binds_query_parameters(running):
    url = web_app.square.get_web_url()
    assert url == web_app.square.web_url
    assert url.endswith("/web/web-test-square-dev")
    r = httpx.get(url, params={"x": 7, "label": "sq"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json() == {"sq": 49}
    missing = httpx.get(url, timeout=TIMEOUT)
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "x"]


def test_post_json_body_and_422(running):
    url = web_app.create_item.get_web_url()
    r = httpx.post(url, json={"name": "tea", "price": 2.5}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "TEA", "with_tax": 3.0}
    bad = httpx.post(url, json={"name": "tea", "price": "free"}, timeout=TIMEOUT)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "price"]
    assert httpx.get(url + "/docs", timeout=TIMEOUT).status_code == 200  # docs=True
    assert httpx.get(url, timeout=TIMEOUT).status_code == 405  # the endpoint is POST only


def test_asgi_streams_server_sent_events(running):
    url = web_app.fastapi_app.get_web_url()
    with httpx.stream("GET", f"{url}/stream", params={"n": 4}, timeout=TIMEOUT) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert events == [f"data: event {i}" for i in range(4)]


def test_large_request_body_streams_through(running):
    url = web_app.fastapi_app.get_web_url()
    body = os.urandom(32 * 1024 * 1024)
    r = httpx.post(f"{url}/size", content=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json() == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_status_codes_and_headers_are_kept(running):
    url = web_app.fastapi_app.get_web_url()
    r = httpx.get(f"{url}/status/418", timeout=TIMEOUT)
    assert r.status_code == 418
    assert r.text == "status 418"
    assert r.headers["x-custom"] == "kept"
    assert sorted(c.split(";")[0] for c in r.headers.get_list("set-cookie")) == ["a=1", "b=2"]
    whoami = httpx.get(f"{url}/whoami?q=1", timeout=TIMEOUT).json()
    assert whoami["path"] == "/whoami"


def test_websocket_echo(running):
    url = web_app.fastapi_app.get_web_url().replace("http://", "ws://")
    with connect(f"{url}/ws", open_timeout=TIMEOUT) as ws:
        for text in ("one", "two", "x" * 100_000):
            ws.send(text)
            assert ws.recv(timeout=TIMEOUT) == f"echo: {text}"
        ws.send("bye")
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=TIMEOUT)
        assert ws.close_code == 1000


def test_wsgi_app(running):
    r = httpx.get(f"{web_app.wsgi.get_web_url()}/some/path?a=1", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.text == "wsgi GET /some/path a=1"
    assert r.headers["x-wsgi"] == "yes"


def test_web_server(running):
    r = httpx.get(f"{web_app.file_server.get_web_url()}/hello.txt", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.text == "hello from a web server\n"


def test_class_method_endpoint_with_enter_hook(running):
    model = web_app.Model()
    url = model.predict.get_web_url()
    assert url.endswith("/web/web-test-model-predict-dev")
    r = httpx.get(url, params={"word": "hello"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["score"] == 3
    assert model.score.remote("hello") == 3  # the class's other methods still take inputs
    with pytest.raises(gw.exception.InvalidError, match="web endpoint"):
        model.predict.remote("hello")


def test_label_host_header_and_custom_domain(running):
    url = web_app.labelled.get_web_url()
    assert url.endswith("/web/gw-test-labelled-dev")
    base = url.rsplit("/web/", 1)[0]
    by_path = httpx.get(f"{url}/a/b", timeout=TIMEOUT)
    assert by_path.text.startswith("labelled /a/b ")
    by_host = httpx.get(
        f"{base}/x", headers={"Host": "gw-test-labelled-dev.gw.example.org"}, timeout=TIMEOUT
    )
    assert by_host.text == "labelled /x gw-test-labelled-dev.gw.example.org"
    by_domain = httpx.get(f"{base}/y", headers={"Host": "api.gw-test.example"}, timeout=TIMEOUT)
    assert by_domain.text == "labelled /y api.gw-test.example"


def test_proxy_auth(running, server):
    url = web_app.private.get_web_url()
    denied = httpx.get(url, timeout=TIMEOUT)
    assert denied.status_code == 401
    assert "gw token new --proxy" in denied.text
    out = server.gw("token", "new", "--proxy")
    assert out.returncode == 0, out.stderr
    creds = dict(line.split(": ", 1) for line in out.stdout.strip().splitlines())
    wrong = {"Modal-Key": creds["Modal-Key"], "Modal-Secret": "nope"}
    assert httpx.get(url, headers=wrong, timeout=TIMEOUT).status_code == 401
    api_token = {
        "Modal-Key": server.env["GW_TOKEN_ID"],
        "Modal-Secret": server.env["GW_TOKEN_SECRET"],
    }
    assert httpx.get(url, headers=api_token, timeout=TIMEOUT).status_code == 401
    for prefix in ("Modal", "Gworker"):
        headers = {f"{prefix}-Key": creds["Modal-Key"], f"{prefix}-Secret": creds["Modal-Secret"]}
        ok = httpx.get(url, headers=headers, timeout=TIMEOUT)
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"secret": "only with a proxy token"}
    # each refusal is in the audit log, with the token id it presented (never its secret)
    r = server.gw("server", "audit", "--refused", "--limit", "10000", "--json")
    assert r.returncode == 0, r.stderr
    path = urlsplit(url).path
    presented = [
        e["token_id"]
        for e in map(json.loads, r.stdout.splitlines())
        if e["path"] == path and e["status"] == 401
    ]
    assert presented[-3:] == ["", creds["Modal-Key"], server.env["GW_TOKEN_ID"]], presented
    assert creds["Modal-Secret"] not in r.stdout


def test_unknown_url_is_a_bare_404(running, server):
    for path in ("/web/no-such-endpoint/", "/web/", "/web/web-test-square"):
        r = httpx.get(server.url + path, timeout=TIMEOUT)
        assert r.status_code == 404
        assert "web-test" not in r.text and "square" not in r.text
    unknown_host = httpx.get(
        server.url + "/v1/health", headers={"Host": "nobody.gw.example.org"}, timeout=TIMEOUT
    )
    assert unknown_host.status_code == 200  # not a label: the API answers as usual


def test_scales_out_on_requests_in_flight(running):
    """Three requests held open at once on containers that take two each: the gateway holds the
    third while the autoscaler starts a second container."""
    url = web_app.barrier.get_web_url()
    params = {"queue": f"barrier-{uuid.uuid4().hex[:8]}", "n": 3}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(httpx.get, url, params=params, timeout=TIMEOUT) for _ in range(3)]
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len({r.json() for r in responses}) >= 2


def test_web_functions_refuse_remote_and_plain_ones_have_no_url(running):
    with pytest.raises(gw.exception.InvalidError, match="web endpoint"):
        web_app.square.remote(2)
    with pytest.raises(gw.exception.InvalidError, match="not a web endpoint"):
        web_app.plain.get_web_url()


def test_label_taken_by_another_running_app(running, server):
    out = server.gw("run", "tests/apps/web_app.py::plain", "--x", "1", timeout=300)
    assert out.returncode != 0
    message = " ".join((out.stdout + out.stderr).split())
    assert "web label 'web-test-square-dev' of 'square' is already served by app 'web-test'" in (
        message
    )


def test_deploy_prints_urls_and_missing_fastapi_is_named(server):
    out = server.gw("deploy", "tests/apps/web_plain_app.py", timeout=300)
    assert out.returncode == 0, out.stderr
    try:
        urls = dict(
            line.split("web endpoint ", 1)[1].split(" => ")
            for line in out.stderr.splitlines()
            if "web endpoint " in line
        )
        assert urls["hello"].endswith("/web/web-plain-hello")  # deployed: no -dev suffix
        r = httpx.get(urls["hello"], timeout=TIMEOUT)
        assert (r.status_code, r.text) == (200, "hello without fastapi")
        failed = httpx.get(urls["needs_fastapi"], timeout=TIMEOUT)
        assert failed.status_code == 503
        assert "failed to start" in failed.text and "Traceback" not in failed.text
        logs = server.gw("app", "logs", "web-plain")
        assert "needs_fastapi() needs fastapi in the image" in logs.stdout + logs.stderr
        assert "pip_install('fastapi[standard]')" in logs.stdout + logs.stderr
        assert httpx.get(urls["never_listens"], timeout=TIMEOUT).status_code == 503
        logs = server.gw("app", "logs", "web-plain")
        assert "nothing accepted connections on port 28799 within startup_timeout=1s" in (
            logs.stdout + logs.stderr
        )
    finally:
        server.gw("app", "stop", "web-plain")
    assert httpx.get(urls["hello"], timeout=TIMEOUT).status_code == 404
