"""Small Modal names with no better home: ``modal.config`` and ``modal.runner.deploy_app``."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import _api, _config

if TYPE_CHECKING:
    from ._app import App

logger = logging.getLogger("gworker")


class Config(Mapping[str, Any]):
    """Read-only settings, as ``modal.config.config`` offers them (``config["environment"]``)."""

    def _values(self) -> dict[str, Any]:
        return {"environment": _config.environment(), "server_url": _api.client().url}

    def __getitem__(self, key: str) -> Any:
        return self._values()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


config = Config()


def deploy_app(
    app: App, name: str | None = None, environment_name: str | None = None, **kwargs: Any
) -> App:
    """Deploy ``app`` (``modal.runner.deploy_app``); ``gw deploy FILE`` from the command line."""
    if kwargs:
        raise TypeError(
            f"deploy_app() got options gworker does not take: {sorted(kwargs)}; it takes the app,"
            " name= and environment_name="
        )
    return app.deploy(name=name, environment_name=environment_name)
