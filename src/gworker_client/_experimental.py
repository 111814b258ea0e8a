"""``modal.experimental``: the one name gworker provides, ``http_server``.

Modal's ``@modal.experimental.http_server(port=...)`` under ``@app.cls(...)`` is the older
spelling of ``@app.server(port=...)``: a class whose ``enter`` hooks start an HTTP server that
the gateway serves. The decorator only marks the class; ``@app.cls`` sees the mark and
registers a server. Modal's HTTP servers answer without proxy-auth headers, so these do too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import exception as exc

_MARK = "__gw_http_server__"
# the rest of modal.experimental, and what to use on gworker instead
UNPROVIDED = (
    "only modal.experimental.http_server is provided (or @app.server(port=...) itself); the other"
    " experimental APIs (clustered, flash, stop_fetching_inputs, ...) have no gworker counterpart"
)


@dataclass(frozen=True)
class HttpServer:
    port: int
    proxy_regions: tuple[str, ...]
    startup_timeout: float
    exit_grace_period: int
    h2_enabled: bool


def http_server(
    port: int,
    *,
    proxy_regions: Any = (),
    startup_timeout: float = 30,
    exit_grace_period: int | None = None,
    h2_enabled: bool = False,
) -> Callable[[type], type]:
    """Mark a class as an HTTP server on ``port``; put ``@app.cls(...)`` above this."""
    if isinstance(proxy_regions, str):
        raise exc.InvalidError(
            f"http_server(proxy_regions={proxy_regions!r}): expected a list of region names"
        )
    mark = HttpServer(
        port, tuple(proxy_regions), startup_timeout, exit_grace_period or 0, h2_enabled
    )

    def mark_class(user_cls: type) -> type:
        if not isinstance(user_cls, type):
            raise exc.InvalidError(
                f"@modal.experimental.http_server() decorates a class; {user_cls!r} is not one"
            )
        setattr(user_cls, _MARK, mark)
        return user_cls

    return mark_class


def marked(user_cls: Any) -> HttpServer | None:
    """The class's ``http_server`` mark, if it has one of its own."""
    return vars(user_cls).get(_MARK) if isinstance(user_cls, type) else None


def as_server(app: Any, user_cls: type, mark: HttpServer, probes: Any, options: Any) -> Any:
    """What ``@app.cls(**options)`` makes of a marked class: ``app.server(port=...)`` with the
    mark's settings and no proxy auth."""
    if probes:
        raise exc.InvalidError(
            f"@app.cls(probes=...) on the http_server class {user_cls.__qualname__}: an HTTP"
            " server is ready when its port accepts connections; leave probes out"
        )
    return app.server(
        port=mark.port,
        unauthenticated=True,
        startup_timeout=mark.startup_timeout,
        proxy_regions=list(mark.proxy_regions),
        exit_grace_period=mark.exit_grace_period,
        h2_enabled=mark.h2_enabled,
        **options,
    )(user_cls)
