"""WebResults with stand-in responses: deferred results are capped in number and in bytes held
together, the bytes are given back when results expire, and an abandoned request's response is
released."""

from __future__ import annotations

import asyncio

import pytest

from gworker.server import web_results
from gworker.server.web_results import WebResults, abandon


class Response:
    """An ``UpstreamResponse`` whose body comes in the chunks given."""

    status, reason, headers = 200, "OK", [("Content-Type", "text/plain")]

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.released = False

    async def read_chunk(self, pause: float) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    def release(self) -> None:
        self.released = True


async def _done(response: Response) -> Response:
    return response


def test_results_are_capped_in_bytes_and_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_results, "MAX_HELD_BYTES", 10)
    monkeypatch.setattr(web_results, "MAX_RESULTS", 2)

    async def run() -> None:
        results, finished = WebResults(), []
        first = results.defer(
            "ep", asyncio.ensure_future(_done(Response(b"12345", b"678"))), 5, 5, lambda: None
        )
        assert (await results.wait(first, "ep", 5)).body == b"12345678"  # type: ignore[union-attr]
        assert results.held_bytes == 8
        second = results.defer(
            "ep", asyncio.ensure_future(_done(Response(b"abc"))), 5, 5, lambda: finished.append(1)
        )
        stored = await results.wait(second, "ep", 5)
        assert stored is not None and stored.status == 503 and results.held_bytes == 8
        assert finished == [1] and not results.has_room()  # two kept: no room for a third
        monkeypatch.setattr(web_results, "RESULT_TTL_S", -1.0)
        assert results.has_room() and results.held_bytes == 0  # expired: bytes given back

    asyncio.run(run())


def test_an_abandoned_request_releases_its_response() -> None:
    async def run() -> None:
        response = Response(b"x")
        ready = asyncio.get_running_loop().create_future()
        ready.set_result(response)
        abandon(ready)
        await asyncio.sleep(0)
        assert response.released

    asyncio.run(run())
