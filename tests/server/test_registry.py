"""The registry's routes against a real control plane: one lifecycle for every kind of named
object (``/v1/{dicts,queues,volumes,secrets}``)."""

from __future__ import annotations

import io
import threading
import time
import uuid

import pytest

import gworker_client as gw
from gworker_client import _api
from gworker_client._protocol.objects import ObjectKind, new_object_id
from gworker_client._secret import create_named

EMPTY_KINDS = [ObjectKind.DICT, ObjectKind.QUEUE, ObjectKind.VOLUME, ObjectKind.NFS]


def _name() -> str:
    return f"reg-{uuid.uuid4().hex[:12]}"


def _listed(kind: ObjectKind, env: str = "main") -> dict[str, dict]:
    rows = _api.client().get(f"/v1/{kind.plural}?env={env}")["objects"]
    return {row["name"]: row for row in rows}


@pytest.mark.parametrize("kind", EMPTY_KINDS, ids=str)
def test_create_is_idempotent_and_names_are_unique_per_kind(server, kind):
    name, client = _name(), _api.client()
    oid = new_object_id(kind)
    body = {"id": oid, "name": name, "environment": "main"}
    assert client.post(f"/v1/{kind.plural}", body)["id"] == oid
    assert client.post(f"/v1/{kind.plural}", body)["id"] == oid  # a retry
    with pytest.raises(gw.exception.AlreadyExistsError, match=f"`gw {kind} delete {name}`"):
        client.post(f"/v1/{kind.plural}", {**body, "id": new_object_id(kind)})
    for other in EMPTY_KINDS:  # the same name in another kind is another object
        if other != kind:
            client.post(f"/v1/{other.plural}", {**body, "id": new_object_id(other)})
    found = client.post(f"/v1/{kind.plural}/lookup", {"name": name, "environment": "main"})
    assert found["id"] == oid


@pytest.mark.parametrize("kind", EMPTY_KINDS, ids=str)
def test_bad_ids_and_names_are_refused(server, kind):
    client = _api.client()
    with pytest.raises(gw.exception.InvalidError, match=f"expected {kind.prefix}-<20 hex"):
        client.post(f"/v1/{kind.plural}", {"id": "xx-123", "name": _name()})
    with pytest.raises(gw.exception.InvalidError, match="1 to 64 characters"):
        client.post(f"/v1/{kind.plural}/lookup", {"name": "no spaces"})


def test_lists_show_what_each_kind_holds(server, tmp_path):
    name = _name()
    (tmp_path / "f.bin").write_bytes(b"12345")
    gw.Dict.from_name(name, create_if_missing=True).update({"a": 1, "b": 2})
    gw.Queue.from_name(name, create_if_missing=True).put_many([1, 2, 3])
    with gw.Volume.from_name(name, create_if_missing=True).batch_upload() as batch:
        batch.put_file(tmp_path / "f.bin", "/f.bin")
    create_named(name, {"B": "x", "A": "y"})
    gw.NetworkFileSystem.from_name(name, create_if_missing=True).write_file(
        "f.bin", io.BytesIO(b"123")
    )
    if "other" not in {e.name for e in gw.environments.list_environments()}:
        gw.environments.create_environment("other")
    assert _listed(ObjectKind.DICT)[name]["items"] == 2
    assert _listed(ObjectKind.QUEUE)[name]["items"] == 3
    volume = _listed(ObjectKind.VOLUME)[name]
    assert (volume["files"], volume["bytes"], volume["version"]) == (1, 5, 1)
    secret = _listed(ObjectKind.SECRET)[name]
    assert secret["keys"] == ["A", "B"] and "values" not in secret
    nfs = _listed(ObjectKind.NFS)[name]
    assert (nfs["files"], nfs["bytes"]) == (1, 3)
    for kind in ObjectKind:
        row = _listed(kind)[name]
        assert row["id"].startswith(kind.prefix + "-")
        assert row["updated_at"] >= row["created_at"]
        assert name not in _listed(kind, env="other")


def test_secrets_are_looked_up_and_deleted_like_every_kind(server):
    name, client = _name(), _api.client()
    with pytest.raises(gw.exception.NotFoundError, match=f"gw secret create {name} KEY=VALUE"):
        client.post("/v1/secrets/lookup", {"name": name})
    with pytest.raises(gw.exception.InvalidError, match="create it with `gw secret create"):
        client.post("/v1/secrets/lookup", {"name": name, "create": True, "id": "sc-" + "0" * 20})
    create_named(name, {"K": "v"})
    sid = client.post("/v1/secrets/lookup", {"name": name})["id"]
    client.post(f"/v1/secrets/{sid}/delete")
    client.post(f"/v1/secrets/{sid}/delete")  # deleting a deleted object is not an error
    assert name not in _listed(ObjectKind.SECRET)


def test_deleting_a_queue_wakes_its_blocked_gets(server):
    q = gw.Queue.from_name(_name(), create_if_missing=True).hydrate()
    errors: list[BaseException] = []

    def get() -> None:
        try:
            q.get(timeout=30)
        except BaseException as e:  # what the blocked get raised
            errors.append(e)

    waiter = threading.Thread(target=get)
    waiter.start()
    time.sleep(1)  # let the get park on the server (if it has not, it fails at once instead)
    _api.client().post(f"/v1/queues/{q.object_id}/delete")
    waiter.join(timeout=20)
    assert not waiter.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], gw.exception.NotFoundError)
