"""The gateway's time limit (a 303 to a result URL to poll), and web containers scaling to zero
and back, on a server of their own (one with a short GW_WEB_TIMEOUT_S)."""

from __future__ import annotations

import time

import httpx
import web_plain_app


def _runners(fn) -> int:  # type: ignore[no-untyped-def]
    return fn.get_current_stats().num_total_runners


def test_timeout_then_scale_to_zero_and_back(short_web_timeout_server):
    with web_plain_app.app.run():
        url = web_plain_app.slow.get_web_url()
        deadline = time.monotonic() + 120
        while httpx.get(url, timeout=60).status_code != 200:  # 504 while its container starts
            assert time.monotonic() < deadline
        # past the timeout: a 303 to a result URL, polled until the request (still running) ends
        first = httpx.get(url + "/slow?n=1", timeout=60)
        assert first.status_code == 303
        location = first.headers["location"]
        assert "n=1&__modal_function_call_id=wr-" in location
        slow = httpx.get(url + "/slow?n=1", timeout=60, follow_redirects=False)
        assert slow.status_code == 303  # a second request: its own result URL
        result_url = url.rsplit("/web/", 1)[0] + location
        done = httpx.get(result_url, timeout=60, follow_redirects=True)
        assert done.status_code == 201 and done.headers["x-slow"] == "yes"
        assert done.text.startswith("answered after") and done.text.endswith(": n=1")
        # the other request's result URL: another 303 to itself while it runs, then its result
        second_url = url.rsplit("/web/", 1)[0] + slow.headers["location"]
        polled = httpx.get(second_url, timeout=60)
        while polled.status_code == 303:
            assert polled.headers["location"] == slow.headers["location"]
            polled = httpx.get(second_url, timeout=60)
        assert polled.status_code == 201 and polled.text.endswith(": n=1")
        # a result URL reloads without running the request again
        again = httpx.get(result_url, timeout=60, follow_redirects=True)
        assert (again.status_code, again.text) == (201, done.text)
        unknown = httpx.get(url + "/slow?__modal_function_call_id=wr-0", timeout=60)
        assert unknown.status_code == 404 and "no result 'wr-0'" in unknown.text

        url = web_plain_app.hello.get_web_url()
        assert _runners(web_plain_app.hello) == 0  # nothing runs before the first request
        assert httpx.get(url, timeout=60).text == "hello without fastapi"
        assert _runners(web_plain_app.hello) == 1
        # scaledown_window=2: the idle container goes away (waiting on an event, not timing it)
        deadline = time.monotonic() + 60
        while _runners(web_plain_app.hello) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _runners(web_plain_app.hello) == 0
        assert httpx.get(url, timeout=60).text == "hello without fastapi"  # from zero again
