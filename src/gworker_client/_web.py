"""Modal's web endpoint decorators. This version does not serve web endpoints yet: applying
one fails at decoration with a clear error instead of deploying something that never answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .exception import InvalidError


def _unsupported(name: str) -> Callable[..., Callable[[Any], Any]]:
    def decorator_factory(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        def decorator(f: Any) -> Any:
            raise InvalidError(
                f"@{name}(): web endpoints are not supported by this version of gworker yet;"
                " call the function with .remote() instead"
            )

        return decorator

    decorator_factory.__name__ = name
    return decorator_factory


asgi_app = _unsupported("asgi_app")
wsgi_app = _unsupported("wsgi_app")
fastapi_endpoint = _unsupported("fastapi_endpoint")
web_endpoint = _unsupported("web_endpoint")
web_server = _unsupported("web_server")
