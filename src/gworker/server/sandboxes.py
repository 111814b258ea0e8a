"""Routes of sandboxes: create, exec, stdio (long-polled reads), wait, terminate, list.

Users and containers (a function may start sandboxes, as in Modal) reach these routes with their
tokens; a sandbox holds none, and has no network path here: its agent's pipes are its channel.
Function containers a user attached to are served here too, but to a user's token only.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gworker_client._protocol import MAX_WAIT_S
from gworker_client._protocol.sandbox import (
    PATH_OPS,
    CreateSandbox,
    ExecCommand,
    FileReply,
    FileRequest,
    Resize,
    SnapshotFilesystem,
    SnapshotImage,
    StdinWrite,
)

from ..store.contract import StateStore
from .errors import InvalidRequest, NotFound, Unauthorized
from .http import decode, query_float, query_int, reply
from .scheduler.sandbox_snapshot import snapshot
from .scheduler.sandboxes import Sandboxes
from .secrets import named_values

routes = web.RouteTableDef()
_STREAMS = ("stdout", "stderr")


def _sandboxes(request: web.Request) -> Sandboxes:
    """The sandboxes, once the caller may act on the one in the URL: a function container a
    user attached to (``gw container exec``) answers a user's token only, never another
    container's (it holds that app's secrets and data)."""
    sandboxes: Sandboxes = request.app["sandboxes"]
    sid = request.match_info.get("sid")
    if sid and sandboxes.attached(sid) and request["identity"][0] != "user":
        raise Unauthorized(f"{sid} is a function container: only a user's token may drive it")
    return sandboxes


def _pid(request: web.Request) -> int:
    raw = request.match_info["pid"]
    if not raw.isdigit():
        raise InvalidRequest(f"process id {raw!r} must be a non-negative integer")
    return int(raw)


@routes.post("/v1/sandboxes")
async def create(request: web.Request) -> web.Response:
    sandboxes = _sandboxes(request)
    sb = await sandboxes.create(await decode(request, CreateSandbox))
    return reply(sb.describe())


@routes.get("/v1/sandboxes")
async def list_sandboxes(request: web.Request) -> web.Response:
    sandboxes = _sandboxes(request)
    app_id = request.query.get("app_id") or None
    every = request.query.get("all") == "1"
    return reply({"sandboxes": sandboxes.listing(app_id, running_only=not every)})


@routes.get("/v1/sandboxes/by-name")
async def by_name(request: web.Request) -> web.Response:
    sandboxes = _sandboxes(request)
    app_id, name = request.query.get("app_id"), request.query.get("name")
    if not app_id or not name:
        raise InvalidRequest("looking up a sandbox by name needs app_id and name")
    return reply(sandboxes.by_name(app_id, name).describe())


@routes.get("/v1/sandboxes/{sid}")
async def describe(request: web.Request) -> web.Response:
    return reply(_sandboxes(request).get(request.match_info["sid"]).describe())


@routes.post("/v1/sandboxes/{sid}/wait")
async def wait(request: web.Request) -> web.Response:
    sandboxes = _sandboxes(request)
    timeout = query_float(request, "timeout", 0, MAX_WAIT_S)
    sb = await sandboxes.wait(request.match_info["sid"], timeout)
    return reply(sb.describe())


@routes.post("/v1/sandboxes/{sid}/terminate")
async def terminate(request: web.Request) -> web.Response:
    sandboxes = _sandboxes(request)
    sb = sandboxes.terminate(request.match_info["sid"])
    await sandboxes.wait(sb.id, MAX_WAIT_S)
    return reply(sb.describe())


@routes.post("/v1/sandboxes/{sid}/ready")
async def ready(request: web.Request) -> web.Response:
    """Long-poll its readiness probe: ``{ready, state, info}``."""
    sandboxes = _sandboxes(request)
    timeout = query_float(request, "timeout", 0, MAX_WAIT_S)
    is_ready = await sandboxes.wait_ready(request.match_info["sid"], timeout)
    return reply({"ready": is_ready, **sandboxes.get(request.match_info["sid"]).describe()})


@routes.get("/v1/sandboxes/{sid}/tunnels")
async def tunnels(request: web.Request) -> web.Response:
    """Its declared ports: ``{"tunnels": [TunnelInfo]}``."""
    return reply({"tunnels": _sandboxes(request).tunnel_info(request.match_info["sid"])})


@routes.post("/v1/sandboxes/{sid}/snapshot_filesystem")
async def snapshot_filesystem(request: web.Request) -> web.Response:
    """Its filesystem as an image in the image store: ``SnapshotImage``."""
    sandboxes = _sandboxes(request)
    req = await decode(request, SnapshotFilesystem)
    sid = request.match_info["sid"]
    if sandboxes.attached(sid):
        raise InvalidRequest(f"{sid} is a function container: only sandboxes are snapshotted")
    store = request.app["image_builds"].builder.store
    record = await snapshot(sandboxes.get(sid), store, req.timeout)
    version = record.config.python_version
    return reply(SnapshotImage(image_id=f"im-{record.key}", python_version=version))


@routes.post("/v1/sandboxes/{sid}/files")
async def files(request: web.Request) -> web.Response:
    """One file operation inside the sandbox, as its user: ``FileReply``."""
    req = await decode(request, FileRequest)
    needs = "path" if req.op in PATH_OPS else "handle"
    if getattr(req, needs) is None:
        raise InvalidRequest(f"a {req.op} request needs {needs}")
    if req.op == "open" and req.mode is None:
        raise InvalidRequest("an open request needs mode, like 'r', 'wb' or 'a+'")
    op = {f: getattr(req, f) for f in req.__struct_fields__ if getattr(req, f) is not None}
    status, data = await _sandboxes(request).request(request.match_info["sid"], op)
    if status:
        message = data[:1000].decode(errors="replace")
        return reply(FileReply(errno=status, message=message))
    return reply(FileReply(errno=0, data=data))


@routes.post("/v1/sandboxes/{sid}/exec")
async def exec_command(request: web.Request) -> web.Response:
    sandboxes = _sandboxes(request)
    req = await decode(request, ExecCommand)
    pid = await sandboxes.exec(request.match_info["sid"], req)
    return reply({"process_id": pid})


@routes.post("/v1/sandboxes/{sid}/processes/{pid}/read")
async def read(request: web.Request) -> web.Response:
    """Long-poll one stream of one process from ``offset``: ``{data, offset, eof}``."""
    sandboxes = _sandboxes(request)
    stream = request.query.get("stream", "stdout")
    if stream not in _STREAMS:
        raise InvalidRequest(f"stream {stream!r} must be one of {', '.join(_STREAMS)}")
    offset = query_int(request, "offset")
    if offset < 0:
        raise InvalidRequest(f"offset {offset} must not be negative")
    timeout = query_float(request, "timeout", 0, MAX_WAIT_S)
    proc = sandboxes.proc(request.match_info["sid"], _pid(request))
    data, at, eof = await getattr(proc, stream).read(offset, timeout)
    return reply({"data": data, "offset": at + len(data), "eof": eof})


@routes.post("/v1/sandboxes/{sid}/processes/{pid}/stdin")
async def stdin(request: web.Request) -> web.Response:
    sandboxes = _sandboxes(request)
    req = await decode(request, StdinWrite)
    await sandboxes.stdin(request.match_info["sid"], _pid(request), req.data, req.eof)
    return reply({})


@routes.post("/v1/sandboxes/{sid}/processes/{pid}/resize")
async def resize(request: web.Request) -> web.Response:
    """A process on a pseudo-terminal: the terminal's new size (the caller's window changed)."""
    req = await decode(request, Resize)
    sid, pid = request.match_info["sid"], _pid(request)
    await _sandboxes(request).resize(sid, pid, req.rows, req.cols)
    return reply({})


@routes.post("/v1/sandboxes/{sid}/processes/{pid}/wait")
async def wait_process(request: web.Request) -> web.Response:
    sandboxes = _sandboxes(request)
    timeout = query_float(request, "timeout", 0, MAX_WAIT_S)
    code = await sandboxes.wait_proc(request.match_info["sid"], _pid(request), timeout)
    return reply({"returncode": code})


def secret_env(store: StateStore) -> Callable[[CreateSandbox], dict[str, str]]:
    """A sandbox's environment from its secrets: named ones read from the store (in order,
    later ones win), then the caller's inline values."""

    def resolve(req: CreateSandbox) -> dict[str, str]:
        env: dict[str, str] = {}
        for ref in req.secrets:
            values = named_values(store, ref.environment, ref.name)
            if values is None:
                raise NotFound(f"secret {ref.name!r} does not exist (`gw secret create`)")
            env.update(values)
        return {**env, **req.inline_env}

    return resolve
