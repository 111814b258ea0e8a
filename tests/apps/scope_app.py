"""Functions that try requests with their own container's token, for the scope tests."""

from __future__ import annotations

from typing import Any

import gworker_client as gw
from gworker_client import _api

app = gw.App("scope")


def _try(requests: list[tuple[str, str, Any]]) -> list[str]:
    """Each request's outcome: "ok" or the SDK exception's class name."""
    outcomes = []
    for method, path, body in requests:
        try:
            _api.client().request(method, path, body)
            outcomes.append("ok")
        except gw.exception.Error as e:
            outcomes.append(type(e).__name__)
    return outcomes


@app.function()
def attempt(requests: list[tuple[str, str, Any]]) -> list[str]:
    return _try(requests)


@app.function(restrict_modal_access=True)
def attempt_restricted(requests: list[tuple[str, str, Any]]) -> list[str]:
    return _try(requests)


@app.function()
def use_named_dict(name: str) -> str:
    d = gw.Dict.from_name(name, create_if_missing=True)
    d["seen"] = "yes"
    return d["seen"]


@app.function(restrict_modal_access=True)
def use_named_dict_restricted(name: str) -> str:
    d = gw.Dict.from_name(name, create_if_missing=True)
    d["seen"] = "yes"
    return d["seen"]


@app.function(restrict_modal_access=True)
def use_passed_dict(d: gw.Dict) -> str:
    d["seen"] = "yes"  # an object passed in the arguments: allowed
    return d["seen"]


@app.function()
def run_sandbox() -> str:
    """A sandbox of its own app, created and read with the container's token."""
    sb = gw.Sandbox.create("sh", "-c", "echo from-sandbox", app=app)
    sb.wait()
    return sb.stdout.read().strip()
