"""The front door with stand-in tunnels and gateway: each request goes to the first that claims
it, else to the API; a bug in the gateway is a plain 500 that names nothing internal."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gworker.server.front_door import INTERNAL, front_door


class Claims:
    """Claims requests whose path starts with ``prefix``; answers them with ``name``."""

    def __init__(self, prefix: str, name: str, fail: bool = False) -> None:
        self.prefix, self.name, self.fail = prefix, name, fail

    def resolve(self, request: web.Request) -> tuple[None, str, str] | None:
        return (None, request.path, "") if request.path.startswith(self.prefix) else None

    async def respond(self, request: web.Request, found: Any) -> web.StreamResponse:
        if self.fail:
            raise RuntimeError("secret detail of the server's insides")
        return web.Response(text=self.name)


async def api(request: web.BaseRequest) -> web.StreamResponse:
    return web.Response(text="api")


def _answer(handler: Any, path: str) -> web.Response:
    response = asyncio.run(handler(make_mocked_request("GET", path)))
    assert isinstance(response, web.Response)
    return response


@pytest.mark.parametrize(
    ("path", "who"),
    [("/web/tn-x/", "tunnels"), ("/web/label/", "gateway"), ("/v1/health", "api")],
)
def test_each_request_goes_to_the_first_that_claims_it(path: str, who: str) -> None:
    # the tunnels claim only their own labels, ahead of the gateway's broader prefix
    handler = front_door(
        Claims("/web/tn-", "tunnels"),  # type: ignore[arg-type]
        Claims("/web/", "gateway"),  # type: ignore[arg-type]
        api,
    )
    assert _answer(handler, path).text == who


def test_a_bug_in_the_gateway_is_a_plain_500(caplog: pytest.LogCaptureFixture) -> None:
    handler = front_door(
        Claims("/web/tn-", "tunnels"),  # type: ignore[arg-type]
        Claims("/web/", "gateway", fail=True),  # type: ignore[arg-type]
        api,
    )
    with caplog.at_level(logging.ERROR, logger="gworker.gateway"):
        response = _answer(handler, "/web/label/x")
    assert response.status == 500
    assert response.text == INTERNAL
    assert "secret detail" in caplog.text  # logged for the operator, never sent to the client
