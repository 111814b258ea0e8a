"""Environments: namespaces for apps, Secrets, Volumes, Dicts and Queues (Modal's
``modal.environments``). ``main`` always exists; ``gw environment ...`` is the command line.

Select one with ``GW_ENVIRONMENT``, ``--env`` on a command, or ``environment_name=`` on
``from_name``, ``App.lookup``, ``app.run()`` and ``app.deploy()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from . import _api


@dataclass(frozen=True)
class EnvironmentInfo:
    """One environment: its name, the suffix its apps' web URLs carry, its running apps."""

    name: str
    webhook_suffix: str
    apps: int
    created_at: float

    @property
    def web_suffix(self) -> str:
        return self.webhook_suffix


def list_environments() -> list[EnvironmentInfo]:
    rows = _api.client().get("/v1/environments")["environments"]
    return [EnvironmentInfo(r["name"], r["web_suffix"], r["apps"], r["created_at"]) for r in rows]


def create_environment(name: str) -> None:
    """Create an environment (``AlreadyExistsError`` if the name is taken)."""
    _api.client().post("/v1/environments", {"name": name})


def delete_environment(name: str) -> None:
    """Stop every app of the environment, delete its Secrets, Volumes, Dicts and Queues (and
    their contents), and the environment itself. ``main`` cannot be deleted."""
    _api.client().post(f"/v1/environments/{quote(name, safe='')}/delete")


def update_environment(
    current_name: str, *, new_name: str | None = None, new_web_suffix: str | None = None
) -> None:
    """Rename an environment (refused while any of its apps runs: stop them first) and/or
    change its web suffix (``''``: none; a suffix never set follows a rename)."""
    body: dict[str, str] = {}
    if new_name is not None:
        body["name"] = new_name
    if new_web_suffix is not None:
        body["web_suffix"] = new_web_suffix
    _api.client().post(f"/v1/environments/{quote(current_name, safe='')}/update", body)


__all__ = [
    "EnvironmentInfo",
    "create_environment",
    "delete_environment",
    "list_environments",
    "update_environment",
]
