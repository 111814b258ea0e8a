"""Modal's web endpoint decorators: ``fastapi_endpoint`` (and the older ``web_endpoint``),
``asgi_app``, ``wsgi_app`` and ``web_server``.

Each one marks a function (under ``@app.function()``) or a method of an ``@app.cls()`` class
with a frozen ``WebEndpoint`` record, validated here at decoration. The control plane's gateway
gives every endpoint a stable URL and proxies HTTP and WebSocket traffic to the container, which
serves it with uvicorn (see ``_runtime/web.py`` and ``docs/web-endpoints.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ._partial import PartialFunction, _partial
from ._protocol import WebEndpoint
from .exception import InvalidError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
KINDS = ("fastapi_endpoint", "asgi_app", "wsgi_app", "web_server")
# A label is one DNS label: it names the endpoint in its URL path and in a Host header.
LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Sandbox tunnels' labels start with this (``tn-`` and 20 hex digits): no endpoint's may.
TUNNEL_PREFIX = "tn-"
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
FASTAPI_HINT = (
    "add it to the function's image: image=gw.Image.debian_slim().pip_install('fastapi[standard]')"
)


def _check_label(decorator: str, label: Any) -> None:
    if label is None:
        return
    if not isinstance(label, str) or not LABEL_RE.match(label):
        raise InvalidError(
            f"@gw.{decorator}(label={label!r}): a label is 1 to 63 lowercase letters, digits and"
            " dashes, starting and ending with a letter or digit (e.g. 'my-api')"
        )
    if label.startswith(TUNNEL_PREFIX):
        raise InvalidError(
            f"@gw.{decorator}(label={label!r}): labels starting with {TUNNEL_PREFIX!r} are kept"
            " for sandbox tunnels: choose another"
        )


def _check_domains(decorator: str, domains: Any) -> tuple[str, ...]:
    if isinstance(domains, str) or not isinstance(domains, Iterable):
        raise InvalidError(
            f"@gw.{decorator}(custom_domains={domains!r}): expected a list of host names,"
            " e.g. ['api.example.com']"
        )
    out = []
    for d in domains:
        if not isinstance(d, str) or not DOMAIN_RE.match(d):
            raise InvalidError(
                f"@gw.{decorator}(custom_domains=[{d!r}]): expected a lowercase host name such as"
                " 'api.example.com' (no scheme, port or path)"
            )
        out.append(d)
    return tuple(out)


def _check_flag(decorator: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidError(f"@gw.{decorator}({name}={value!r}): expected True or False")


def _marker(decorator: str, config: WebEndpoint) -> Callable[[Any], PartialFunction]:
    def wrapper(f: Any) -> PartialFunction:
        from ._function import Function

        if isinstance(f, Function):
            raise InvalidError(
                f"@gw.{decorator}() must go under @app.function(): write @app.function() on the"
                f" line above @gw.{decorator}()"
            )
        p = _partial(f, f"@gw.{decorator}()")
        if p.web is not None:
            raise InvalidError(
                f"{p.raw_f.__qualname__} has two web decorators (@gw.{p.web.kind}() and"
                f" @gw.{decorator}()); keep one"
            )
        return p.with_web(config)

    return wrapper


def _no_function_argument(decorator: str, value: Any) -> None:
    if callable(value):
        raise InvalidError(f"did you forget the parentheses? Write `@gw.{decorator}()`.")


def fastapi_endpoint(
    _warn_parentheses_missing: Any = None,
    *,
    method: str = "GET",
    label: str | None = None,
    docs: bool = False,
    requires_proxy_auth: bool = False,
    custom_domains: Iterable[str] = (),
) -> Callable[[Any], PartialFunction]:
    """Serve a function as one HTTP endpoint; its parameters are bound FastAPI's way (query
    parameters, or a JSON body for a model or dict), so a bad request gets a 422.

    The function's image needs ``fastapi``: ``.pip_install("fastapi[standard]")``.
    """
    return _fastapi_endpoint(
        "fastapi_endpoint",
        _warn_parentheses_missing,
        method,
        label,
        docs,
        requires_proxy_auth,
        custom_domains,
    )


def web_endpoint(
    _warn_parentheses_missing: Any = None,
    *,
    method: str = "GET",
    label: str | None = None,
    docs: bool = False,
    requires_proxy_auth: bool = False,
    custom_domains: Iterable[str] = (),
) -> Callable[[Any], PartialFunction]:
    """Modal's older name for ``fastapi_endpoint``."""
    return _fastapi_endpoint(
        "web_endpoint",
        _warn_parentheses_missing,
        method,
        label,
        docs,
        requires_proxy_auth,
        custom_domains,
    )


def _fastapi_endpoint(
    decorator: str,
    positional: Any,
    method: Any,
    label: Any,
    docs: Any,
    requires_proxy_auth: Any,
    custom_domains: Any,
) -> Callable[[Any], PartialFunction]:
    _no_function_argument(decorator, positional)
    if positional is not None:
        raise InvalidError(f"@gw.{decorator}() takes keyword arguments only, got {positional!r}")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise InvalidError(
            f"@gw.{decorator}(method={method!r}): expected one of {', '.join(METHODS)}"
        )
    _check_label(decorator, label)
    _check_flag(decorator, "docs", docs)
    _check_flag(decorator, "requires_proxy_auth", requires_proxy_auth)
    config = WebEndpoint(
        kind="fastapi_endpoint",
        method=method.upper(),
        label=label,
        docs=docs,
        requires_proxy_auth=requires_proxy_auth,
        custom_domains=_check_domains(decorator, custom_domains),
    )
    return _marker(decorator, config)


def _app_decorator(
    kind: str, positional: Any, label: Any, custom_domains: Any, requires_proxy_auth: Any
) -> Callable[[Any], PartialFunction]:
    _no_function_argument(kind, positional)
    if positional is not None:
        raise InvalidError(f"@gw.{kind}() takes keyword arguments only, got {positional!r}")
    _check_label(kind, label)
    _check_flag(kind, "requires_proxy_auth", requires_proxy_auth)
    config = WebEndpoint(
        kind=kind,  # type: ignore[arg-type]  # asgi_app or wsgi_app
        label=label,
        requires_proxy_auth=requires_proxy_auth,
        custom_domains=_check_domains(kind, custom_domains),
    )
    return _marker(kind, config)


def asgi_app(
    _warn_parentheses_missing: Any = None,
    *,
    label: str | None = None,
    custom_domains: Iterable[str] = (),
    requires_proxy_auth: bool = False,
) -> Callable[[Any], PartialFunction]:
    """Serve the ASGI app (FastAPI, Starlette, ...) that the decorated factory returns."""
    return _app_decorator(
        "asgi_app", _warn_parentheses_missing, label, custom_domains, requires_proxy_auth
    )


def wsgi_app(
    _warn_parentheses_missing: Any = None,
    *,
    label: str | None = None,
    custom_domains: Iterable[str] = (),
    requires_proxy_auth: bool = False,
) -> Callable[[Any], PartialFunction]:
    """Serve the WSGI app (Flask, Django, ...) that the decorated factory returns."""
    return _app_decorator(
        "wsgi_app", _warn_parentheses_missing, label, custom_domains, requires_proxy_auth
    )


def web_server(
    port: int,
    *,
    startup_timeout: float = 5.0,
    label: str | None = None,
    custom_domains: Iterable[str] = (),
    requires_proxy_auth: bool = False,
) -> Callable[[Any], PartialFunction]:
    """Serve whatever HTTP server the decorated function starts on ``port`` (on 127.0.0.1 or
    0.0.0.0 inside the container); requests are proxied once it accepts connections, which it
    must do within ``startup_timeout`` seconds."""
    _no_function_argument("web_server", port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidError(f"@gw.web_server(port={port!r}): expected an int from 1 to 65535")
    if (
        isinstance(startup_timeout, bool)
        or not isinstance(startup_timeout, (int, float))
        or not 0 < startup_timeout <= 3600
    ):
        raise InvalidError(
            f"@gw.web_server(startup_timeout={startup_timeout!r}): expected seconds, more than 0"
            " and at most 3600"
        )
    _check_label("web_server", label)
    _check_flag("web_server", "requires_proxy_auth", requires_proxy_auth)
    config = WebEndpoint(
        kind="web_server",
        label=label,
        requires_proxy_auth=requires_proxy_auth,
        custom_domains=_check_domains("web_server", custom_domains),
        port=port,
        startup_timeout=float(startup_timeout),
    )
    return _marker("web_server", config)


def web_url(function_id: str, method: str | None) -> str:
    """The URL the control plane serves an endpoint at."""
    from . import _api

    query = f"?method={method}" if method else ""
    url: str = _api.client().get(f"/v1/functions/{function_id}/web{query}")["url"]
    return url
