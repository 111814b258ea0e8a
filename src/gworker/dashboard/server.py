"""The dashboard over HTTP: its page and static files, its JSON API and live streams.

An aiohttp middleware placed before the API's token check answers everything under
``/dashboard``: the page and its files need no token (they hold no data); every
``/dashboard/api/`` call needs a user token or a dashboard session (``auth.py``). Live pages use
server-sent events: a view's stream sends the view again whenever it changed, and a log stream
sends lines as the app's log receives them (it waits on the log, it never re-reads it on a timer).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from ..server import namespaces
from ..server.errors import ApiError, InvalidRequest, NotFound, Unauthorized
from ..server.http import Handler
from ..server.state import State
from ..store.environments import DEFAULT_ENVIRONMENT
from ..usage import PriceError
from ..usage.report import UsageQueryError, parse_span
from . import views
from .auth import DashboardAuth

PREFIX = "/dashboard"
STATIC = resources.files("gworker.dashboard") / "static"
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
VIEW_REFRESH_S = 1.0
LOG_WAIT_S = 25.0
MIN_BUCKET_S = 60.0
MAX_BUCKETS = 2000
JsonView = Callable[[web.Request, re.Match[str]], Any]


def _query_span(request: web.Request, name: str, default: str) -> float:
    try:
        return parse_span(request.query.get(name, default))
    except UsageQueryError as e:
        raise InvalidRequest(str(e).replace("since=", f"{name}=")) from None


def _env(request: web.Request) -> str | None:
    """``?env=``: an unknown environment is the API's 404; none given, None (all of them)."""
    return namespaces.in_query(request) if request.query.get("env") else None


def _usage(request: web.Request) -> views.View:
    """The usage view's window: at least a minute a bucket and at most ``MAX_BUCKETS`` of them
    (every bucket is a point of every app's series)."""
    since, bucket = _query_span(request, "since", "24h"), _query_span(request, "bucket", "1h")
    if bucket < MIN_BUCKET_S:
        raise InvalidRequest(f"bucket={request.query.get('bucket')!r} must be at least 1m")
    if since / bucket > MAX_BUCKETS:
        raise InvalidRequest(
            f"since={request.query.get('since', '24h')!r} with"
            f" bucket={request.query.get('bucket', '1h')!r} is over {MAX_BUCKETS} buckets:"
            " use a larger bucket or a shorter span"
        )
    try:
        return views.usage(request.app, since, int(bucket), _env(request))
    except PriceError as e:
        raise InvalidRequest(str(e)) from None


VIEWS: list[tuple[re.Pattern[str], JsonView]] = [
    (re.compile(r"^/apps$"), lambda r, m: views.apps(r.app, _env(r))),
    (re.compile(r"^/environments$"), lambda r, m: views.environments(r.app)),
    (re.compile(r"^/apps/(ap-[\w-]+)$"), lambda r, m: views.app_detail(r.app, m.group(1))),
    (re.compile(r"^/containers/(ct-[\w-]+)$"), lambda r, m: views.container(r.app, m.group(1))),
    (re.compile(r"^/images$"), lambda r, m: views.images(r.app)),
    (re.compile(r"^/objects$"), lambda r, m: views.objects(r.app, _env(r) or DEFAULT_ENVIRONMENT)),
    (
        re.compile(r"^/volumes/(vo-[\w-]+)$"),
        lambda r, m: views.volume_dir(r.app, m.group(1), r.query.get("path", "")),
    ),
    (re.compile(r"^/gpus$"), lambda r, m: views.gpus(r.app)),
    (re.compile(r"^/usage$"), lambda r, m: _usage(r)),
]


class Dashboard:
    def __init__(self, state: State) -> None:
        self.auth = DashboardAuth(state.tokens)
        self._streams: set[asyncio.Task[Any]] = set()

    async def close(self, _: web.Application) -> None:
        """End the live streams, so the server's shutdown does not wait on open pages."""
        for task in list(self._streams):
            task.cancel()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return await handler(request)
        try:
            return await self._route(request, path[len(PREFIX) :])
        except ApiError as e:
            return web.json_response(
                {"error": {"type": e.sdk_type, "message": str(e)}}, status=e.status
            )

    async def _route(self, request: web.Request, path: str) -> web.StreamResponse:
        if path in ("", "/"):
            return _static("index.html")
        if path.startswith("/static/"):
            return _static(path[len("/static/") :])
        if not path.startswith("/api/"):
            raise web.HTTPNotFound()
        api = path[len("/api") :]
        if api == "/login" and request.method == "POST":
            return await self._login(request)
        header = request.headers.get("Authorization", "")
        token_id = self.auth.identify(header)
        if token_id is None and header.partition(" ")[2]:
            given = header.partition(" ")[2].partition(":")[0]
            raise Unauthorized(
                f"the token {given!r} is not valid (or its dashboard session ended): run"
                " `gw dashboard --url` for a new link, or enter a user token"
            )
        if token_id is None:
            raise Unauthorized(
                "the dashboard needs a token: open the URL `gw dashboard --url` prints, or enter"
                " a user token (token_id:secret, as in GW_HOME/token.json)"
            )
        if api == "/whoami":
            return web.json_response({"token_id": token_id})
        if api == "/stream":
            return await self._stream_view(request, request.query.get("view", ""))
        if api == "/logs":
            return await self._stream_logs(request)
        view, match = _find(api)
        return web.json_response(view(request, match))

    async def _login(self, request: web.Request) -> web.Response:
        try:
            link = (await request.json()).get("link", "")
        except (ValueError, AttributeError):
            raise InvalidRequest('expected a JSON body {"link": ...}') from None
        granted = self.auth.redeem(str(link))
        if granted is None:
            raise Unauthorized(
                "this dashboard link is not valid (each works once, for two minutes):"
                " run `gw dashboard --url` for a new one"
            )
        return web.json_response({"session": granted[0], "expires_at": granted[1]})

    async def _sse(
        self, request: web.Request, body: Callable[[web.StreamResponse], Awaitable[None]]
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        try:
            await body(resp)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._streams.discard(task)
        return resp

    async def _stream_view(self, request: web.Request, target: str) -> web.StreamResponse:
        view_path, _, query = target.partition("?")
        view, match = _find(view_path)
        inner = request.clone(rel_url=f"{request.path}?{query}")

        async def body(resp: web.StreamResponse) -> None:
            last = None
            while True:
                try:
                    text = json.dumps(view(inner, match), default=str)
                except ApiError as e:
                    text = json.dumps({"error": {"type": e.sdk_type, "message": str(e)}})
                if text != last:
                    await resp.write(f"data: {text}\n\n".encode())
                    last = text
                await asyncio.sleep(VIEW_REFRESH_S)

        return await self._sse(request, body)

    async def _stream_logs(self, request: web.Request) -> web.StreamResponse:
        state: State = request.app["state"]
        app_id = request.query.get("app", "")
        cid = request.query.get("container") or None
        if state.store.app(app_id) is None:
            raise InvalidRequest(f"app={app_id!r} is not an app id")
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            raise InvalidRequest(f"after={request.query['after']!r} is not an int") from None

        async def body(resp: web.StreamResponse) -> None:
            cursor = after
            while True:
                rows = await state.scheduler.wait_logs(app_id, cursor, LOG_WAIT_S)
                if not rows:
                    await resp.write(b": keep-alive\n\n")
                    continue
                top = rows[-1][0]
                if cid is not None:  # only this container's lines, up to the same cursor
                    rows = [r for r in state.store.container_logs(cid, cursor) if r[0] <= top]
                cursor = top
                for seq, stream, text in rows:
                    line = json.dumps({"seq": seq, "stream": stream, "text": text})
                    await resp.write(f"data: {line}\n\n".encode())

        return await self._sse(request, body)


def _find(api: str) -> tuple[JsonView, re.Match[str]]:
    for pattern, view in VIEWS:
        match = pattern.match(api)
        if match:
            return view, match
    raise NotFound(f"no dashboard view {api!r}")


def _static(name: str) -> web.Response:
    # only names the package ships: no path from the request reaches the filesystem
    shipped = {p.name: p for p in STATIC.iterdir() if p.is_file()}
    shipped |= {f"vendor/{p.name}": p for p in (STATIC / "vendor").iterdir() if p.is_file()}
    entry = shipped.get(name)
    if entry is None:
        raise web.HTTPNotFound()
    suffix = "." + name.rsplit(".", 1)[-1]
    return web.Response(
        body=entry.read_bytes(),
        content_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
        headers={"Cache-Control": "no-cache"},
    )
