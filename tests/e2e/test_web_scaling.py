"""The gateway's time limit, and web containers scaling to zero and back, on a server of their
own (one with a short GW_WEB_TIMEOUT_S)."""

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
        slow = httpx.get(url + "/slow", timeout=60)
        assert slow.status_code == 504
        assert "sent no response within 3s" in slow.text

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
