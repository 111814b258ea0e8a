"""Web requests that outlive the gateway's timeout, kept for the client to poll, as Modal does.

A request whose endpoint sends no response headers within the timeout (150 s,
``GW_WEB_TIMEOUT_S``) is not cut off: the gateway answers ``303 See Other`` pointing at the same
URL with ``__modal_function_call_id=<id>`` added (the *result URL*), and the request keeps
running. The gateway reads its response whole (up to ``RESULT_MAX_BYTES``) into memory. A
request for the result URL waits up to the timeout again: it gets the stored response (status,
headers and body, as the endpoint sent them), or another 303 to the same URL. Clients that follow
redirects (browsers, ``curl -L``, httpx with ``follow_redirects=True``) so wait as long as their
redirect limit allows; reloading a result URL never starts the request again.

A finished result stays for ``RESULT_TTL_S`` after it completed (then the URL is a 404), and in
memory only: a control-plane restart forgets the ones in flight. At most ``MAX_RESULTS`` are kept
at once (past that a slow request gets the 504 it got before results were kept), holding at most
``MAX_HELD_BYTES`` of bodies together (past that a result is a 503 saying so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict

from .upstream import UpstreamResponse
from .web_proxy import HOP_BY_HOP

log = logging.getLogger("gworker.gateway")
# Modal's name for the query parameter of a result URL, so its clients' habits carry over.
RESULT_PARAM = "__modal_function_call_id"
RESULT_MAX_BYTES = 64 * 1024 * 1024
RESULT_TTL_S = 600.0
MAX_RESULTS = 1000
MAX_HELD_BYTES = 512 * 1024 * 1024


@dataclass
class StoredResponse:
    status: int
    reason: str | None
    headers: list[tuple[str, str]]
    body: bytes

    def response(self) -> web.Response:
        headers: CIMultiDict[str] = CIMultiDict(self.headers)
        headers.popall("Content-Length", None)
        return web.Response(status=self.status, reason=self.reason, headers=headers, body=self.body)


@dataclass
class Pending:
    """One deferred request: the endpoint it belongs to, and its response once it is in."""

    label: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    result: StoredResponse | None = None
    finished_at: float | None = None
    held: int = 0  # bytes of its body counted in ``WebResults.held_bytes``


def _error(status: int, text: str) -> StoredResponse:
    return StoredResponse(status, None, [("Content-Type", "text/plain")], text.encode())


def abandon(upstream: asyncio.Future[UpstreamResponse]) -> None:
    """Nobody will read ``upstream``: cancel it, or release the response it already has."""

    def drop(done: asyncio.Future[UpstreamResponse]) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result().release()

    upstream.cancel()
    upstream.add_done_callback(drop)


class WebResults:
    def __init__(self) -> None:
        self._pending: dict[str, Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.held_bytes = 0  # of the bodies kept and being read, together

    def has_room(self) -> bool:
        self._expire()
        return len(self._pending) < MAX_RESULTS

    def defer(
        self,
        label: str,
        upstream: asyncio.Future[UpstreamResponse],
        pause: float,
        limit: float,
        finished: Callable[[], None],
    ) -> str:
        """Keep ``upstream`` running, for up to ``limit`` seconds more (the function's timeout);
        return the id of its result URL. ``finished`` runs once its response is read (or
        failed)."""
        self._expire()
        rid = "wr-" + secrets.token_hex(16)
        pending = self._pending[rid] = Pending(label)
        task = asyncio.ensure_future(self._complete(pending, upstream, pause, limit, finished))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return rid

    async def _complete(
        self,
        pending: Pending,
        upstream: Awaitable[UpstreamResponse],
        pause: float,
        limit: float,
        finished: Callable[[], None],
    ) -> None:
        try:
            try:
                response = await asyncio.wait_for(upstream, limit)
            except asyncio.TimeoutError:
                pending.result = _error(
                    504, f"504: {pending.label} sent no response within its timeout ({limit:g}s)\n"
                )
                return
            pending.result = await self._read(pending, response, pause)
        except ConnectionError:
            pending.result = _error(502, f"502: {pending.label} closed the connection\n")
        except asyncio.TimeoutError:
            pending.result = _error(
                504, f"504: {pending.label} paused its response for over {pause:g}s\n"
            )
        except asyncio.CancelledError:
            pending.result = _error(503, "503: the control plane stopped\n")
            raise
        finally:
            pending.finished_at = time.monotonic()
            pending.done.set()
            finished()

    async def wait(self, rid: str, label: str, timeout: float) -> StoredResponse | None:
        """The stored response of ``rid`` (which must belong to ``label``), or None if it is
        not in within ``timeout``; KeyError if there is no such result."""
        self._expire()
        pending = self._pending.get(rid)
        if pending is None or pending.label != label:
            raise KeyError(rid)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(pending.done.wait(), timeout)
        return pending.result

    def _expire(self) -> None:
        cutoff = time.monotonic() - RESULT_TTL_S
        for rid in [
            r for r, p in self._pending.items() if p.finished_at and p.finished_at < cutoff
        ]:
            self.held_bytes -= self._pending.pop(rid).held

    async def _read(
        self, pending: Pending, upstream: UpstreamResponse, pause: float
    ) -> StoredResponse:
        """The whole response, or an error saying it was too large to keep; what it holds
        counts against ``MAX_HELD_BYTES`` until it expires."""
        body = bytearray()
        try:
            while True:
                chunk = await upstream.read_chunk(pause)
                if not chunk:
                    break
                if len(body) + len(chunk) > RESULT_MAX_BYTES:
                    return _error(
                        502,
                        f"502: the response was over {RESULT_MAX_BYTES // 2**20} MiB, more than"
                        " a result URL keeps; send large results sooner than the gateway's"
                        " timeout, or stream them\n",
                    )
                if self.held_bytes + len(chunk) > MAX_HELD_BYTES:
                    return _error(
                        503,
                        "503: the gateway holds too many slow results to keep this one; send"
                        " results sooner than the gateway's timeout\n",
                    )
                body += chunk
                self.held_bytes += len(chunk)
            headers = [(k, v) for k, v in upstream.headers if k.lower() not in HOP_BY_HOP]
            kept = StoredResponse(upstream.status, upstream.reason, headers, bytes(body))
            pending.held, body = len(body), bytearray()  # now counted as the stored result's
            return kept
        finally:
            self.held_bytes -= len(body)  # a body not kept
            upstream.release()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def result_url(raw_path: str, rid: str) -> str:
    """The request's own path and query with the result id added (replacing an older one)."""
    path, _, query = raw_path.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith(RESULT_PARAM + "=")]
    return f"{path}?{'&'.join([*kept, f'{RESULT_PARAM}={rid}'])}"
