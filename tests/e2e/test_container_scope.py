"""What a container's token reaches (server/scope.py): its own app and its environment's shared
things, never other apps' code, logs, call outputs or specs; with restrict_modal_access=True,
only its own app."""

from __future__ import annotations

import hashlib
import json
import uuid

import basic_app
import cloudpickle
import pytest
import scope_app

import gworker_client as gw
from gworker_client import _api


@pytest.fixture(scope="module")
def other(server):
    """Another app of the same environment, with a finished call."""
    with basic_app.app.run():
        call = basic_app.square.spawn(7)
        assert call.get() == 49
        # a blob uploaded by someone else (another app's code bundle, an image's file)
        data = uuid.uuid4().bytes * 8
        digest = hashlib.sha256(data).hexdigest()
        _api.client().ensure_blob(digest, data)
        yield {
            "app_id": basic_app.app.app_id,
            "fid": basic_app.square.object_id,
            "call_id": call.object_id,
            "blob": digest,
        }


def _new_call(fid: str) -> tuple[str, str, dict[str, object]]:
    args = cloudpickle.dumps(((6,), {}))
    body = {"call_id": f"fc-{uuid.uuid4().hex}", "inputs": [[0, args]], "wait": 30}
    return ("POST", f"/v1/functions/{fid}/calls", body)


def test_a_container_cannot_reach_other_apps(server, other):
    with scope_app.app.run():
        own_app = scope_app.app.app_id
        outcomes = scope_app.attempt.remote(
            [
                ("GET", f"/v1/apps/{other['app_id']}/logs", None),
                ("GET", f"/v1/blobs/{other['blob']}", None),
                ("GET", f"/v1/calls/{other['call_id']}/outputs", None),
                ("POST", f"/v1/apps/{other['app_id']}/stop", {}),
                ("GET", "/v1/containers/ct-00000000000000000000/spec", None),
                ("POST", f"/v1/apps/{own_app}/publish", {}),
                ("POST", "/v1/secrets/resolve", {"secrets": []}),
                ("POST", "/v1/tokens", {"user": "x", "role": "viewer"}),
                ("GET", f"/v1/apps/{own_app}/logs", None),  # its own app: fine
                _new_call(other["fid"]),  # another function of its environment: fine
            ]
        )
    denied = ["AuthError"] * 8
    assert outcomes == [*denied, "ok", "ok"], outcomes
    # each refusal is in the audit log, reads included, with the container as who
    r = server.gw("server", "audit", "--refused", "--limit", "10000", "--json")
    assert r.returncode == 0, r.stderr
    refused = {
        (e["method"], e["path"])
        for e in map(json.loads, r.stdout.splitlines())
        if e["who"].startswith("container ") and e["status"] == 403
    }
    assert ("GET", f"/v1/apps/{other['app_id']}/logs") in refused, refused
    assert ("POST", f"/v1/apps/{other['app_id']}/stop") in refused, refused


def test_a_container_uses_its_environments_named_objects(server):
    with scope_app.app.run():
        assert scope_app.use_named_dict.remote(f"scope-{uuid.uuid4().hex[:8]}") == "yes"


def test_restrict_modal_access_confines_a_container_to_its_own_app(server, other):
    with scope_app.app.run():
        outcomes = scope_app.attempt_restricted.remote(
            [
                _new_call(other["fid"]),  # another app's function: refused now
                ("GET", f"/v1/apps/{scope_app.app.app_id}/logs", None),
                _new_call(scope_app.attempt.object_id),  # its own app's: fine
            ]
        )
        assert outcomes == ["AuthError", "ok", "ok"], outcomes
        with pytest.raises(gw.exception.AuthError, match="restrict_modal_access"):
            scope_app.use_named_dict_restricted.remote(f"scope-{uuid.uuid4().hex[:8]}")
        passed = gw.Dict.from_name(f"scope-{uuid.uuid4().hex[:8]}", create_if_missing=True)
        assert scope_app.use_passed_dict.remote(passed) == "yes"
        assert list(scope_app.use_passed_dict.map([passed, passed])) == ["yes", "yes"]


def test_a_container_runs_sandboxes_of_its_app(server):
    with scope_app.app.run():
        assert scope_app.run_sandbox.remote() == "from-sandbox"
