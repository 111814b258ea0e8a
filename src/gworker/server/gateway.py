"""The web gateway: HTTP and WebSocket traffic for web endpoints, proxied to their containers.

A request names its endpoint by path (``/web/<label>/...``) or by Host header (``<label>.<domain>``
or a ``custom_domains`` entry); ``web_table.py`` resolves it. Plain requests that a container can
take at once are served by the server's web front (``web_front.py``) straight from the socket,
with this module's routing, slots and ``exchange``; the rest reach ``Gateway.respond`` through
aiohttp and the front door (``front_door.py``), before the API's router and middlewares see them.
Web requests need no gworker token (they are public, as in Modal) unless the endpoint says
``requires_proxy_auth=True``; then a proxy-auth token is checked before any container is
involved.

The gateway then takes a slot on a container that serves the endpoint: the least busy one with
fewer than ``max_inputs`` requests in flight (``@gw.concurrent``; 100 by default). With none free it
holds the request and tells the scheduler, whose autoscaler counts waiting and in-flight web
requests as load, so the first request scales from zero and a burst adds containers. A request
that gets no response headers within the timeout (150 s by default, ``GW_WEB_TIMEOUT_S``,
container start included) is answered ``303 See Other`` to a result URL the client polls while
the request runs on (``web_results.py``), as Modal does; one that got no container in that time,
a WebSocket, or one whose large body was still streaming, is answered 504.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
from aiohttp import web

from .draining import DRAINING
from .proxy_auth import HINT as PROXY_AUTH_HINT
from .proxy_auth import ProxyTokens, presented_key
from .scheduler import Scheduler
from .scheduler.state import Container, FunctionState
from .upstream import Upstream, UpstreamResponse
from .web_proxy import (
    LOOPBACK,
    forward_websocket,
    relay_http,
    request_body,
    send_http,
    web_timeout,
)
from .web_results import RESULT_PARAM, WebResults, abandon, result_url
from .web_table import Endpoint, WebTable

log = logging.getLogger("gworker.gateway")
PREFIX = "/web/"
NOT_FOUND = "404: no web endpoint at this URL\n"
# A held request re-checks for containers that failed to start at least this often; a container
# that comes up wakes it at once.
RECHECK_S = 0.5


class Unavailable(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def see_other(location: str) -> web.Response:
    return web.Response(
        status=303,
        headers={"Location": location},
        text=f"303: still running; the result will be at {location}\n",
    )


def upstream_of(c: Container, port: int) -> tuple[str, int, dict[str, str] | None]:
    """Where a request for the container's web ``port`` goes: that port on this machine's
    loopback, or, for a container on another node, its node's relay (``backends/web_relay.py``)
    with the headers the relay checks."""
    relay = c.web_relay
    if relay is None:
        return LOOPBACK, port, None
    return relay.url_host, relay.port, relay.headers(port)


async def _until_done(task: asyncio.Future[Any], deadline: float) -> None:
    """Wait for ``task`` until ``deadline`` (``time.monotonic()``), leaving it running past it:
    one future and one timer, the least a request's wait can cost."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    task.add_done_callback(wake)
    timer = loop.call_at(loop.time() + max(0.0, deadline - time.monotonic()), wake)
    try:
        await waiter
    finally:
        timer.cancel()
        task.remove_done_callback(wake)


class Gateway:
    def __init__(self, scheduler: Scheduler, table: WebTable, tokens: ProxyTokens) -> None:
        self.scheduler = scheduler
        self.table = table
        self.tokens = tokens
        self.timeout = web_timeout()
        self.upstream = Upstream()
        self._changed: dict[str, asyncio.Event] = {}
        self.results = WebResults()
        # told of each request refused for its proxy auth: the audit log (audit.py)
        self.refused: Callable[[web.Request, int, str], None] = lambda request, status, key: None

    async def close(self) -> None:
        await self.results.close()
        await self.upstream.close()

    # -- which endpoint ----------------------------------------------------------------------------

    def resolve(self, request: web.Request) -> tuple[Endpoint | None, str, str] | None:
        """``(endpoint or None, upstream path, path prefix)`` for a web request; None for the
        control plane's own API."""
        return self.resolve_target(request.raw_path, request.host)

    def resolve_target(self, raw: str, host: str | None) -> tuple[Endpoint | None, str, str] | None:
        """``resolve`` for a request's target (path and query, as sent) and Host header."""
        if raw.startswith(PREFIX):
            label, _, _ = raw[len(PREFIX) :].partition("/")
            label = label.partition("?")[0]
            prefix = PREFIX + label
            rest = raw[len(prefix) :]
            path = rest if rest.startswith("/") else "/" + rest
            return self.table.by_path_label(label), path, prefix
        ep = self.table.by_host(host) if host else None
        return (ep, raw, "") if ep is not None else None

    async def respond(
        self, request: web.Request, found: tuple[Endpoint | None, str, str]
    ) -> web.StreamResponse:
        """Answer a request ``resolve`` found to be a web endpoint's."""
        endpoint, path, prefix = found
        if endpoint is None:
            return web.Response(status=404, text=NOT_FOUND)
        if endpoint.config.requires_proxy_auth and not self.tokens.allows(request.headers):
            self.refused(request, 401, presented_key(request.headers))
            return web.Response(status=401, text=f"401: {PROXY_AUTH_HINT}\n")
        try:
            return await self.serve(request, endpoint, path, prefix)
        except Unavailable as e:
            return web.Response(status=e.status, text=e.text)

    # -- serving one request ----------------------------------------------------------------------

    async def serve(
        self, request: web.Request, endpoint: Endpoint, path: str, prefix: str
    ) -> web.StreamResponse:
        rid = request.query.get(RESULT_PARAM)
        if rid is not None:
            return await self.poll(request, endpoint, rid)
        fs = self.scheduler.web_function(endpoint.function_id)
        if fs is None:
            return web.Response(status=404, text=NOT_FOUND)
        deadline = time.monotonic() + self.timeout  # container start included
        c = await self.acquire(fs, endpoint, deadline)
        host, port, relay_headers = upstream_of(c, c.web_ports[endpoint.key])
        if request.headers.get("Upgrade", "").lower() == "websocket":
            try:
                return await forward_websocket(
                    self.upstream.websockets(),
                    request,
                    port,
                    path,
                    prefix,
                    host=host,
                    extra_headers=relay_headers,
                )
            except (aiohttp.ClientError, ConnectionError) as e:
                raise self.closed(endpoint, e) from None
            finally:
                self.release(fs, c)
        released = False
        try:
            data = await request_body(request)
            sent = send_http(
                self.upstream,
                request,
                port,
                path,
                prefix,
                data,
                host=host,
                extra_headers=relay_headers,
            )
            keepable = isinstance(data, bytes | None)
            outcome = await self.exchange(
                fs, c, endpoint, sent, deadline, request.raw_path, keepable
            )
            if isinstance(outcome, str):
                released = True  # the result URL's to release once the response is in
                return see_other(outcome)
            try:
                return await relay_http(request, outcome, self.timeout, prefix)
            except asyncio.TimeoutError:
                raise self.no_body(endpoint) from None
            except ConnectionError as e:  # before its body's first bytes
                raise self.closed(endpoint, e) from None
        finally:
            if not released:
                self.release(fs, c)

    async def exchange(
        self,
        fs: FunctionState,
        c: Container,
        endpoint: Endpoint,
        sent: Coroutine[Any, Any, UpstreamResponse],
        deadline: float,
        raw_path: str,
        keepable: bool,
    ) -> UpstreamResponse | str:
        """Wait for the response to a request ``sent`` to ``c`` until ``deadline``:
        the response once its head is in; or, should the request still run then, the URL the
        client polls for its result (``keepable``: the request's body was read whole, so the
        request can run on; the slot on ``c`` is then the result's to release). Unavailable
        (502, 504) when neither can be."""
        # a task of its own, so that past the timeout it can run on for a result URL
        upstream = asyncio.get_running_loop().create_task(sent)
        try:
            await _until_done(upstream, deadline)
        except asyncio.CancelledError:  # the caller releases the slot: so is the request
            abandon(upstream)
            raise
        if not upstream.done():
            # its body is the client's to stream, or no room is left to keep its result
            if keepable and self.results.has_room():
                # the request runs on; the client polls for its result (Modal's behaviour)
                rid = self.results.defer(
                    endpoint.label,
                    upstream,
                    self.timeout,
                    fs.spec.timeout,
                    lambda: self.release(fs, c),
                )
                return result_url(raw_path, rid)
            abandon(upstream)
            raise Unavailable(
                504,
                f"504: {endpoint.display} sent no response within {self.timeout:g}s"
                " (the gateway's request timeout)\n",
            )
        try:
            return upstream.result()
        except ConnectionError as e:
            raise self.closed(endpoint, e) from None

    async def poll(self, request: web.Request, endpoint: Endpoint, rid: str) -> web.StreamResponse:
        """A result URL: the deferred request's response once it is in, else another 303."""
        try:
            stored = await self.results.wait(rid, endpoint.label, self.timeout)
        except KeyError:
            return web.Response(
                status=404,
                text=f"404: no result {rid!r} at this URL (results are kept"
                " for 10 minutes after they complete)\n",
            )
        if stored is None:
            return see_other(result_url(request.raw_path, rid))
        return stored.response()

    def no_body(self, endpoint: Endpoint) -> Unavailable:
        return Unavailable(
            504, f"504: {endpoint.display} sent no response body within {self.timeout:g}s\n"
        )

    @staticmethod
    def closed(endpoint: Endpoint, e: BaseException) -> Unavailable:
        log.info("web request to %s failed: %r", endpoint.display, e)
        return Unavailable(502, f"502: {endpoint.display} closed the connection\n")

    async def acquire(self, fs: FunctionState, endpoint: Endpoint, deadline: float) -> Container:
        """A slot on a container serving ``endpoint``, waiting (scaling up) for one if needed."""
        failed_before = fs.start_error
        waiting = False
        try:
            while True:
                c = self.take_slot(fs, endpoint)
                if c is not None:
                    return c
                if fs.start_error is not None and fs.start_error is not failed_before:
                    raise Unavailable(
                        503,
                        f"503: containers for {endpoint.display} failed to start; see its app's"
                        " logs (`gw app logs`)\n",
                    )
                if not fs.live:
                    raise Unavailable(404, NOT_FOUND)
                if DRAINING.stopping:
                    raise Unavailable(503, "503: the gworker server is stopping\n")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unavailable(
                        504,
                        f"504: no container for {endpoint.display} was ready within"
                        f" {self.timeout:g}s\n",
                    )
                if not waiting:
                    waiting = True
                    fs.web_waiting += 1
                    self.scheduler.web_demand(fs)
                event = self._changed.setdefault(fs.id, asyncio.Event())
                with contextlib.suppress(asyncio.TimeoutError):
                    await DRAINING.wait_for(event.wait(), min(left, RECHECK_S))
        finally:
            if waiting:
                fs.web_waiting -= 1
                self.scheduler.web_demand(fs)

    def take_slot(self, fs: FunctionState, endpoint: Endpoint) -> Container | None:
        """A slot on the least busy container serving ``endpoint`` with one free, if any."""
        c = self._pick(fs, endpoint)
        if c is not None:
            c.web_requests += 1
            if c.web_requests >= fs.web_target:  # at its aim: the autoscaler may add one
                self.scheduler.web_demand(fs)
        return c

    def _pick(self, fs: FunctionState, endpoint: Endpoint) -> Container | None:
        best: Container | None = None
        for c in fs.containers.values():
            if c.stopping or not c.accepting or endpoint.key not in c.web_ports:
                continue
            if c.web_requests < fs.web_max and (best is None or c.web_requests < best.web_requests):
                best = c
        return best

    def release(self, fs: FunctionState, c: Container) -> None:
        # no autoscaling here: fewer requests never start a container, and the scheduler's
        # tick stops containers that stay idle (no request in flight) past idle_timeout
        c.web_requests -= 1
        c.idle_since = time.monotonic()
        if fs.web_waiting:
            self.notify(fs.id)

    def notify(self, function_id: str) -> None:
        """A container of ``function_id`` can take a request: wake the held ones."""
        event = self._changed.pop(function_id, None)
        if event is not None:
            event.set()

    def container_ready(self, c: Container, ports: dict[str, int]) -> None:
        c.web_ports = ports
        self.notify(c.function.id)
