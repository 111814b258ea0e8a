"""A container's web endpoints: each is served on a loopback port this container picks, and the
ports are reported to the control plane, whose gateway proxies requests to them.

``fastapi_endpoint``, ``asgi_app`` and ``wsgi_app`` run under uvicorn on one event loop in a
thread of their own, so the main thread keeps polling for the class's other methods' inputs and
for the stop signal. uvicorn (with h11 and websockets) ships with the gworker runtime in every
image, as Modal's runtime brings its own server; ``fastapi`` is the image's, as in Modal.
A ``web_server`` function starts its own server; the container waits for its port to accept
connections.

A container whose servers listen on ports of their own choosing (``web_server``, ``@app.server``)
runs in a network namespace of its own on the local backend (``GW_OWN_NETWORK``): the port is
its own, whatever else listens on it elsewhere, and the backend forwards a host port to it
(``gworker.backends.web_network``). Elsewhere (Ray nodes) it shares its machine's network.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import threading
import time
from typing import Any

from .._cls import resolve
from .._context import running_input
from .._protocol import WebEndpoint
from .._web import FASTAPI_HINT
from ..exception import InvalidError

# Longer than the gateway's pooled connections live (30 s), so the gateway never reuses a
# connection uvicorn is closing.
KEEP_ALIVE_S = 75
# How long in-flight requests are given to finish when the container stops.
GRACEFUL_S = 30.0
STARTUP_S = 30.0
# How long a container in a network of its own waits for it to come up before user code runs.
NETWORK_S = 30.0
ROUTES = "/proc/net/route"  # the container's own namespace's routing table


def own_network() -> set[int] | None:
    """The ports of the container's own servers when it has a network of its own, else None."""
    value = os.environ.get("GW_OWN_NETWORK")
    return None if value is None else {int(p) for p in value.split(",") if p}


def wait_for_network() -> None:
    """In a network of its own, wait until the backend has brought it up (slirp4netns adds the
    default route last), so user code finds outbound network and DNS from its first line."""
    deadline = time.monotonic() + NETWORK_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), open(ROUTES) as f:
            if any(line.split()[1:2] == ["00000000"] for line in f.readlines()[1:]):
                return
        time.sleep(0.01)
    print(f"gworker: the container's network did not come up within {NETWORK_S:g}s", flush=True)


def fastapi_app(fn: Any, endpoint: WebEndpoint) -> Any:
    """Wrap one function in a FastAPI app at ``/``: its signature binds the request."""
    try:
        import fastapi
    except ImportError:
        name = getattr(fn, "__qualname__", repr(fn))
        raise InvalidError(
            f"@gw.fastapi_endpoint() on {name}() needs fastapi in the image; {FASTAPI_HINT}"
        ) from None
    docs = endpoint.docs
    app = fastapi.FastAPI(
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.add_api_route("/", fn, methods=[endpoint.method])
    return app


def each_request_an_input(app: Any, interface: str) -> Any:
    """``app`` with each HTTP or WebSocket request run as an input of its own (a call id made
    up here, never stored), so the calls a request makes hang under it in their call graph and
    ``current_input_id()`` names it, as on Modal."""
    from .._function import new_call_id

    if interface == "wsgi":

        def wsgi(environ: Any, start_response: Any) -> Any:
            with running_input(new_call_id(), 0):
                return app(environ, start_response)

        return wsgi
    call = getattr(app, "__call__", None)  # noqa: B004 - an ASGI 2 app is a class
    if not (inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call)):
        return app  # ASGI 2: left to uvicorn as it is

    async def asgi3(scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") not in ("http", "websocket"):
            return await app(scope, receive, send)
        with running_input(new_call_id(), 0):
            return await app(scope, receive, send)

    return asgi3


def _loopback_socket(port: int = 0) -> socket.socket:
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP,
    # and with Nagle on, a response's last small write waits ~40 ms for a delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


class WebEndpoints:
    """The endpoints of one container; ``start`` serves them, ``stop`` lets in-flight requests
    finish and closes them."""

    def __init__(self, endpoints: tuple[WebEndpoint, ...], target: Any) -> None:
        self.endpoints = endpoints
        self.target = target  # endpoint name (None for a function) -> the user's callable
        self.servers: list[Any] = []
        self.loop = asyncio.new_event_loop()
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    def start(self) -> dict[str, int]:
        """Serve every endpoint; return ``{endpoint name or "": loopback port}``."""
        ports: dict[str, int] = {}
        uvicorn_apps: list[tuple[Any, str, socket.socket]] = []
        for ep in self.endpoints:
            key = ep.name or ""
            if ep.kind == "server":  # the class's enter hooks (already run) started it
                ports[key] = self._wait_listening(ep, [], "@app.server")
                continue
            fn = self.target(ep.name)
            if ep.kind == "web_server":
                ports[key] = self._start_web_server(fn, ep)
            elif ep.kind == "fastapi_endpoint":
                app = each_request_an_input(fastapi_app(fn, ep), "asgi3")
                uvicorn_apps.append((app, "asgi3", _loopback_socket()))
            else:
                app = resolve(fn())
                if app is None or not callable(app):
                    raise InvalidError(
                        f"@gw.{ep.kind}() factory {getattr(fn, '__qualname__', fn)} returned"
                        f" {app!r}; it must return the {ep.kind[:4].upper()} app to serve"
                    )
                interface = "wsgi" if ep.kind == "wsgi_app" else "auto"
                app = each_request_an_input(app, interface)
                uvicorn_apps.append((app, interface, _loopback_socket()))
            if ep.kind != "web_server":
                ports[key] = uvicorn_apps[-1][2].getsockname()[1]
        if uvicorn_apps:
            self._serve(uvicorn_apps)
        return ports

    def _serve(self, apps: list[tuple[Any, str, socket.socket]]) -> None:
        import uvicorn

        for app, interface, _ in apps:
            config = uvicorn.Config(
                app,
                interface=interface,  # type: ignore[arg-type]
                lifespan="off" if interface == "wsgi" else "auto",
                log_level="warning",
                access_log=False,
                timeout_keep_alive=KEEP_ALIVE_S,
                timeout_graceful_shutdown=int(GRACEFUL_S),
            )
            self.servers.append(uvicorn.Server(config))
        socks = [s for _, _, s in apps]
        self.thread = threading.Thread(target=self._run, args=(socks,), name="gw-web", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + STARTUP_S
        while not all(s.started for s in self.servers):
            if self.failure is not None or not self.thread.is_alive():
                raise RuntimeError(f"the web server failed to start: {self.failure!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not start within {STARTUP_S:g}s")
            time.sleep(0.01)

    def _run(self, socks: list[socket.socket]) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(
                asyncio.gather(*(s.serve(sockets=[k]) for s, k in zip(self.servers, socks)))
            )
        except BaseException as e:  # noqa: B036 - reported to the starting thread
            self.failure = e

    def _start_web_server(self, fn: Any, ep: WebEndpoint) -> int:
        port = int(ep.port or 0)
        if _accepts(port):
            where = (
                "in this container before the server started"
                if own_network() is not None
                else "on this machine before the server started (containers here share the"
                " machine's network: one container per port per machine)"
            )
            raise InvalidError(f"@gw.web_server(port={port}): port {port} is already taken {where}")
        # the function may block while it serves, or start a process and return
        done: list[BaseException | None] = []

        def call() -> None:
            try:
                resolve(fn())
                done.append(None)
            except BaseException as e:  # noqa: B036 - reported below
                done.append(e)

        threading.Thread(target=call, name="gw-web-server", daemon=True).start()
        return self._wait_listening(ep, done, "@gw.web_server")

    def _wait_listening(
        self, ep: WebEndpoint, done: list[BaseException | None], decorator: str
    ) -> int:
        """``ep.port`` once something accepts connections there (within its startup_timeout);
        ``done`` holds the starting function's failure, if it failed."""
        port, timeout = int(ep.port or 0), float(ep.startup_timeout)
        deadline = time.monotonic() + timeout
        while not _accepts(port):
            if done and done[0] is not None:
                raise done[0]
            if time.monotonic() > deadline:
                starter = "an @enter method" if ep.kind == "server" else "the function"
                raise InvalidError(
                    f"{decorator}(port={port}): nothing accepted connections on port {port}"
                    f" within startup_timeout={timeout:g}s; {starter} must start a server"
                    " listening on that port (e.g. subprocess.Popen([...])), or raise"
                    " startup_timeout"
                )
            time.sleep(0.05)
        return port

    def stop(self) -> None:
        """Stop accepting; give in-flight requests up to GRACEFUL_S to finish."""
        for s in self.servers:
            s.should_exit = True
        if self.thread is not None:
            self.thread.join(GRACEFUL_S + 5)


def start_web(container: Any) -> WebEndpoints | None:
    """Serve the container's web endpoints and report their ports; None when it has none."""
    endpoints = container.spec.spec.web
    if not endpoints:
        return None
    service = container.service

    def target(name: str | None) -> Any:
        if name is None:
            return service.targets[None].fn
        return getattr(service.instance, name)

    web = WebEndpoints(endpoints, target)
    ports = web.start()
    container.client.post(f"/v1/containers/{container.id}/web", {"ports": ports})
    return web
