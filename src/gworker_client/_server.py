"""``@app.server``: a class whose ``@gw.enter()`` method starts an HTTP server on a port, served
through the control plane's gateway (Modal's ``modal.Server``)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import msgspec

from . import _api
from . import exception as exc
from ._aio import blocking
from ._cls import build_cls
from ._function import Function
from ._options import FunctionOptions
from ._partial import Concurrency
from ._protocol import FunctionSpec, WebEndpoint, from_builtins
from ._web import _check_domains, _check_flag, _check_label, web_url

# How long an @enter method has to get the server listening, unless startup_timeout= says.
DEFAULT_STARTUP_TIMEOUT_S = 30.0
# With target_concurrency=t, a container takes up to max(t, this) requests at once (the
# gateway's own default when nothing is set), and the autoscaler aims for t.
SERVER_MAX_REQUESTS = 100


def server_endpoint(
    port: Any,
    *,
    unauthenticated: Any,
    startup_timeout: Any,
    label: Any,
    custom_domains: Any,
    exit_grace_period: Any,
    h2_enabled: Any,
) -> WebEndpoint:
    """The ``@app.server(...)`` arguments as the class's web endpoint, checked."""
    where = "@app.server"
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise exc.InvalidError(f"{where}(port={port!r}): expected an int from 1 to 65535")
    if (
        isinstance(startup_timeout, bool)
        or not isinstance(startup_timeout, (int, float))
        or not 0 < startup_timeout <= 3600
    ):
        raise exc.InvalidError(
            f"{where}(startup_timeout={startup_timeout!r}): expected seconds, more than 0 and"
            " at most 3600"
        )
    if exit_grace_period not in (0, None):
        raise exc.InvalidError(
            f"{where}(exit_grace_period={exit_grace_period!r}) is not supported: a stopping"
            " server's container runs its @exit hooks at once; remove it (0)"
        )
    if h2_enabled:
        raise exc.InvalidError(
            f"{where}(h2_enabled=True) is not supported: the gateway speaks HTTP/1.1 to"
            " containers; remove it"
        )
    _check_flag("server", "unauthenticated", unauthenticated)
    _check_label("server", label)
    return WebEndpoint(
        kind="server",
        label=label,
        # as in Modal, a server asks for proxy-auth credentials unless it is unauthenticated
        requires_proxy_auth=not unauthenticated,
        custom_domains=_check_domains("server", custom_domains),
        port=port,
        startup_timeout=float(startup_timeout),
    )


def check_regions(proxy_regions: Any) -> tuple[str, ...]:
    """``proxy_regions``: names of the regions whose proxies serve the server. This control
    plane's one gateway serves it under each name asked for (``get_urls``)."""
    if proxy_regions is None:
        return ("us-east",)  # Modal's default
    if isinstance(proxy_regions, str) or not all(isinstance(r, str) for r in proxy_regions):
        raise exc.InvalidError(
            f"@app.server(proxy_regions={proxy_regions!r}): expected a list of region names"
        )
    return tuple(proxy_regions) or ("us-east",)


def check_target_concurrency(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise exc.InvalidError(
            f"@app.server(target_concurrency={value!r}): expected requests per container, >= 1"
        )
    return value


def server_decorator(
    app: Any,
    endpoint: WebEndpoint,
    options: FunctionOptions,
    proxy_regions: Any,
    target_concurrency: Any,
) -> Callable[[type], Server]:
    """``@app.server(...)`` once its arguments are checked: registers the class with ``app``."""
    regions = check_regions(proxy_regions)
    endpoint = msgspec.structs.replace(endpoint, proxy_regions=regions)  # for from_name
    target = check_target_concurrency(target_concurrency)
    if target is not None:
        ceiling = max(target, SERVER_MAX_REQUESTS)
        options = dataclasses.replace(options, concurrency=Concurrency(ceiling, target))

    def wrapper(user_cls: type) -> Server:
        if not inspect.isclass(user_cls) or "<locals>" in user_cls.__qualname__:
            raise exc.InvalidError(
                f"@app.server() decorates a class defined at module level; {user_cls!r} is not one"
            )
        _, service = build_cls(user_cls, options, [], app, server=endpoint)
        app._register(service)
        return Server(user_cls, service, regions)

    return wrapper


class Server:
    """A class registered with ``@app.server(port=...)``: its containers run its
    ``@gw.enter()`` methods, which start an HTTP server on ``port``; the gateway serves it at
    ``get_url()`` once the port accepts connections, scaling containers on requests in flight.

    ::

        @app.server(port=8000, unauthenticated=True)
        class FileServer:
            @gw.enter()
            def start(self):
                self.proc = subprocess.Popen(["python", "-m", "http.server", "8000"])

        FileServer.get_url()

    Requests need ``Modal-Key``/``Modal-Secret`` headers of a ``gw token new --proxy`` token
    unless ``unauthenticated=True``.
    """

    def __init__(
        self, user_cls: type | None, service: Function, regions: tuple[str, ...] = ("us-east",)
    ) -> None:
        self._user_cls = user_cls
        self._service = service  # what the container looks up by the class's name
        self._regions = regions
        self.__name__ = service.tag
        self.__qualname__ = service.tag
        if user_cls is not None:
            self.__doc__ = user_cls.__doc__
            self.__module__ = user_cls.__module__

    def __repr__(self) -> str:
        return f"Server({self._service.tag!r})"

    @classmethod
    def from_name(cls, app_name: str, name: str, *, environment_name: str | None = None) -> Server:
        """A handle on a deployed app's server class."""
        info = _api.lookup_function(app_name, name, environment_name)
        spec = from_builtins(info["spec"], FunctionSpec)
        served = [w for w in spec.web if w.kind == "server"]
        if not served:
            raise exc.InvalidError(
                f"{app_name}.{name} is not an @app.server class; use gw.Function.from_name or"
                " gw.Cls.from_name for it"
            )
        service = Function(None, FunctionOptions(), name)
        service._object_id = info["function_id"]
        return cls(None, service, served[0].proxy_regions or ("us-east",))

    def hydrate(self) -> Server:
        """Look the server up now rather than on first use; return it."""
        self._service._hydrate()
        return self

    def get_url(self) -> str:
        """The URL the gateway serves this server at."""
        return web_url(self._service._hydrate(), None)

    @blocking
    def _experimental_get_flash_urls(self) -> list[str]:
        """Modal's ``modal.experimental.http_server`` spelling: one URL per proxy region."""
        return list(self.get_urls().values())

    def get_urls(self) -> dict[str, str]:
        """Its URL for each of its ``proxy_regions``: this control plane's one gateway serves
        them all, so they are the same URL."""
        url = self.get_url()
        return {region: url for region in self._regions}
