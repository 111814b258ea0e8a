"""The control plane: one aiohttp application over a store, a blob store and a scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import getpass
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gworker_client._protocol import home as home_files
from gworker_client._protocol.limits import MAX_REQUEST_BYTES

from .. import constants as C
from .. import dashboard
from ..backends.local import LocalBackend
from ..backends.ray import RayBackend
from ..images import BuildError, ImageBuilder
from ..store import Store
from ..usage import load_prices
from ..usage.meter import UsageMeter
from . import (
    apps,
    audit,
    blobs,
    call_graph,
    calls,
    containers,
    dicts,
    environments,
    identities,
    images,
    network_file_systems,
    queues,
    registry,
    running,
    sandboxes,
    scope,
    secrets,
    system,
    usage,
    volumes,
    web_routes,
)
from .call_stats import CallStats
from .channel import ContainerChannel
from .draining import DRAINING
from .front_door import front_door
from .gateway import Gateway
from .http import auth_middleware, errors_middleware, hash_secret
from .payloads import Payloads
from .proxy_auth import ProxyTokens
from .retention import Retention
from .scheduler import Scheduler
from .scheduler.sandboxes import Sandboxes
from .schedules import ScheduleRunner
from .state import State
from .web_front import WebFront
from .web_table import WebTable

log = logging.getLogger("gworker.server")
GC_FIRST_GENERATION = 10_000
# handlers still running once the stop has ended every long-poll (a web request streaming
# through the gateway) get this long to finish
SHUTDOWN_GRACE_S = 2.0


def _ensure_local_token(state: State, home: Path) -> None:
    """The local user's token: kept if the store knows it, else a new admin token (file mode
    0600), so a single user needs no set-up."""
    creds = home_files.credentials_from_file(home)
    known = state.tokens.get(creds.token_id) if creds else None
    if (
        creds
        and known
        and not known.revoked
        and known.secret_hash == hash_secret(creds.token_secret)
    ):
        return
    token_id, secret = identities.new_token(state, _local_user(), "admin")
    home_files.write_credentials(home_files.Credentials(token_id, secret), home)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a bare container)
        return "local"


def _image_secrets(store: Store, loop: asyncio.AbstractEventLoop) -> Any:
    """Resolve the named secrets of an image build step; called from the build's thread, so
    the store is read on the event loop that owns it."""

    def resolve(refs: list[dict[str, Any]]) -> dict[str, str]:
        for ref in refs:
            if not ref.get("name"):
                raise BuildError(
                    "image build steps take named secrets (gw.Secret.from_name); inline secrets"
                    " (from_dict, from_local_environ, from_dotenv) are for functions"
                )

        async def on_loop() -> dict[str, str]:
            env: dict[str, str] = {}
            for ref in refs:
                values = secrets.named_values(store, ref.get("environment") or "main", ref["name"])
                if values is None:
                    raise BuildError(f"secret {ref['name']!r} does not exist (`gw secret create`)")
                env.update(values)
            return env

        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result()

    return resolve


def container_by_token(app: web.Application, state: State, token: str) -> str | None:
    """Whose token this is: a function's container, or a sandbox's volume keeper."""
    found = state.scheduler.container_by_token(token)
    return found if found is not None else app["sandboxes"].keeper_by_token(token)


BACKENDS = ("local", "ray")


def _backend(
    kind: str,
    ray_address: str | None,
    local: LocalBackend,
    builder: ImageBuilder,
    blob_store: blobs.BlobStore,
) -> LocalBackend | RayBackend:
    """The backend that places containers: this machine's, or a Ray cluster's."""
    if kind == "local":
        return local
    if kind != "ray":
        raise ValueError(f"backend {kind!r} is not one of {', '.join(BACKENDS)}")
    # Ray nodes fetch images' layers from the blob store (images/transfer.py)
    return RayBackend(ray_address or "auto", builder, blob_store.root)


def build_app(
    home: Path, server_url: str, backend_kind: str = "local", ray_address: str | None = None
) -> web.Application:
    store = Store(home / "state.db")
    blob_store = blobs.BlobStore(home / "blobs")
    builder = ImageBuilder(home / "cache" / "images", blob_store.get)
    builder.store.clear_tmp()  # what builds interrupted by a previous server's end left
    # sandboxes run on the control plane's machine whatever places containers
    local = LocalBackend(home, builder)
    backend = _backend(backend_kind, ray_address, local, builder, blob_store)
    state = State(
        store=store,
        blobs=blob_store,
        scheduler=Scheduler(store, backend, server_url, secret_env=secrets.container_env),
        tokens=store.tokens(),
    )
    _ensure_local_token(state, home)
    # web endpoints' and tunnels' traffic never reaches the application: serve()'s front door
    # takes it first (front_door.py)
    gateway = Gateway(state.scheduler, WebTable(store, state.scheduler), ProxyTokens(store))
    # the dashboard's page needs no token; its API checks its own (dashboard/auth.py)
    board = dashboard.Dashboard(state)
    audit_log = audit.AuditLog(state)
    state.scheduler.maintenance.append(audit_log.tick)
    gateway.refused = audit_log
    sandbox_table = Sandboxes(store, local.start_sandbox, sandboxes.secret_env(store), server_url)
    app = web.Application(
        client_max_size=MAX_REQUEST_BYTES,  # blob uploads stream past it (blobs.py)
        middlewares=[
            errors_middleware,
            board.middleware,
            auth_middleware(
                state.tokens,
                lambda t: container_by_token(app, state, t),
                audit_log,
                lambda request: scope.check(request, state),
            ),
        ],
    )
    app["state"] = state
    app["gateway"] = gateway
    app["dashboard"] = board
    app.on_shutdown.append(board.close)

    channel = app["channel"] = ContainerChannel(state.scheduler)
    app["home"] = home
    app["bind_host"] = None  # where the API listens, when not at the URL's host (serve sets it)
    app["queue_waiters"] = queues.Waiters()
    app["image_builds"] = images.ImageBuilds(
        builder, lambda: local.images_in_use() | backend.images_in_use()
    )
    app["kinds"] = registry.kinds(
        dicts.KIND, queues.KIND, volumes.KIND, secrets.KIND, network_file_systems.kind(home)
    )
    app["schedules"] = schedules = ScheduleRunner(store, state.scheduler)
    app["sandboxes"] = sandbox_table
    app["attach_container"] = backend.attach  # on this machine, or through a Ray actor
    state.scheduler.app_stopped.append(app["sandboxes"].end_app)

    def app_stopped(_: str) -> None:  # however it stopped: its schedules and URLs are gone
        schedules.changed()
        gateway.table.dirty = True

    state.scheduler.app_stopped.append(app_stopped)
    state.scheduler.app_busy.append(app["sandboxes"].running_in)
    # large arguments and results leave the blob store once nothing refers to them
    app["payloads"] = payload_sweep = Payloads(
        store, blob_store, state.scheduler.calls.live_payloads, store.commit
    )
    state.scheduler.maintenance.append(payload_sweep.tick)
    # finished calls, old logs and what ended leave the store (state.db stays bounded)
    app["retention"] = retention = Retention(
        store, lambda: state.scheduler.calls.calls, store.commit
    )
    state.scheduler.maintenance.append(retention.tick)
    for module in (apps, calls, containers, blobs, system, identities, audit, registry, dicts):
        app.add_routes(module.routes)
    app.add_routes(queues.routes)
    app.add_routes(secrets.routes)
    app.add_routes(volumes.routes)
    app.add_routes(images.routes)
    app.add_routes(web_routes.routes)
    app.add_routes(sandboxes.routes)
    app.add_routes(usage.routes)
    app.add_routes(dashboard.routes)
    load_prices(home)  # a bad price file stops the start, naming the bad key
    meter = app["usage_meter"] = UsageMeter(
        store, backend, lambda: list(state.scheduler.fleet.by_id.values())
    )
    state.scheduler.fleet.exit_hooks.append(meter.exited)
    app["call_stats"] = call_stats = CallStats()
    state.scheduler.queue.completed_hooks.append(call_stats.completed)
    state.scheduler.queue.completed_hooks.append(call_graph.input_finished(state))
    app.add_routes(call_graph.routes)
    app.add_routes(running.routes)
    app.add_routes(environments.routes)
    app.add_routes(network_file_systems.routes)

    async def on_startup(_: web.Application) -> None:
        builder.secret_env = _image_secrets(store, asyncio.get_running_loop())
        advertised = urlsplit(server_url).hostname or "127.0.0.1"
        await channel.start(app["bind_host"] or advertised, advertised, C.CHANNEL_PORT)
        await channel.start_unix(str(C.control_sockets(home) / C.CHANNEL_SOCKET))
        app["sandboxes"].recover()
        await state.scheduler.start()
        schedules.start()
        meter.start()

    async def on_cleanup(_: web.Application) -> None:
        await app["sandboxes"].close()
        await schedules.close()
        await gateway.close()
        await channel.close()
        await meter.close()
        await state.scheduler.close()
        if backend is not local:
            await local.close()
        store.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


async def serve(
    home: Path,
    host: str,
    port: int,
    backend: str = "local",
    ray_address: str | None = None,
    advertise_url: str | None = None,
) -> None:
    """Run the control plane until SIGTERM/SIGINT; record its URL in ``GW_HOME/server.json``."""
    home.mkdir(parents=True, exist_ok=True)
    # bind first so the URL (and an ephemeral port) is known before containers are told it
    sock = _bind(host, port)
    url = advertise_url or f"http://{reachable_host(host)}:{sock.getsockname()[1]}"
    app = build_app(home, url, backend, ray_address)
    app["bind_host"] = host
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_S
    )
    await runner.setup()
    assert runner.server is not None
    runner.server.request_handler = front_door(
        app["sandboxes"].tunnels, app["gateway"], runner.server.request_handler
    )
    # the port's connections start in the web front (web requests served straight from the
    # socket), which hands the rest to aiohttp (web_front.py)
    front = WebFront(app["gateway"], runner.server)
    listener = await asyncio.get_running_loop().create_server(front, sock=sock, backlog=1024)
    # the same API on a unix socket, for containers without a network (block_network=True)
    await web.UnixSite(runner, str(C.control_sockets(home) / C.API_SOCKET)).start()
    _tune_gc()
    info = home_files.server_info_path(home)
    tmp = info.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    os.replace(tmp, info)
    log.info("gworker control plane listening on %s (GW_HOME=%s)", url, home)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("gworker control plane stopping: ending long-polls, stopping containers")
        DRAINING.begin()
        try:
            await app["state"].scheduler.drain()
            listener.close()
            await front.shutdown(SHUTDOWN_GRACE_S)
            await runner.cleanup()
        finally:
            with contextlib.suppress(FileNotFoundError, ValueError):
                if json.loads(info.read_text()).get("pid") == os.getpid():
                    info.unlink()
        log.info("gworker control plane stopped gracefully")


def _tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server: what start-up made (modules,
    the app, the store) lives as long as the process, so freezing it keeps every full
    collection from walking it again; and the first generation is collected after 10,000 net
    allocations instead of 700, since a request's objects are freed by reference counting long
    before that. Measured under the gateway benchmark's load: the collector's time per web
    request went from about 29 µs to about 0."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_FIRST_GENERATION, second, third)


def reachable_host(host: str) -> str:
    """The address other machines reach a server bound to ``host`` at: ``host`` itself, or for a
    wildcard (0.0.0.0, ::) this machine's address on its default route."""
    import socket

    if host not in ("0.0.0.0", "::", ""):
        return f"[{host}]" if ":" in host else host
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # a documentation address: no packet is sent
            return str(s.getsockname()[0])
    except OSError:
        return socket.gethostbyname(socket.gethostname())


def _bind(host: str, port: int):  # type: ignore[no-untyped-def]
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock
