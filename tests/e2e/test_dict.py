"""gw.Dict against a real control plane."""

from __future__ import annotations

import pickle
import time
import uuid

import pytest

import gworker_client as gw
from gworker_client import _api


@pytest.fixture
def d(server):
    with gw.Dict.ephemeral() as d:
        yield d


def unique(prefix: str = "d") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_set_get_contains_len(d):
    d["a"] = 1
    d[("t", 2)] = {"nested": [1, 2]}
    assert d["a"] == 1
    assert d[("t", 2)] == {"nested": [1, 2]}
    assert "a" in d and ("t", 2) in d and "z" not in d
    assert len(d) == 2
    with pytest.raises(KeyError):
        d["z"]


def test_get_pop_delete_update_clear(d):
    d.update({"x": 1, "y": 2}, z=3)
    assert d.get("x") == 1 and d.get("missing") is None and d.get("missing", 7) == 7
    assert d.pop("x") == 1
    assert d.pop("x", "gone") == "gone"
    with pytest.raises(KeyError):
        d.pop("x")
    del d["y"]
    with pytest.raises(KeyError):
        del d["y"]
    assert dict(d.items()) == {"z": 3}
    d.clear()
    assert len(d) == 0


def test_keys_values_items_span_pages(d):
    entries = {f"k{i:04d}": i for i in range(1500)}  # more than one page of 1000
    d.update(entries)
    assert sorted(d.keys()) == sorted(entries)
    assert sorted(d.values()) == sorted(entries.values())
    assert dict(d.items()) == entries
    assert len(d) == 1500


def test_put_skip_if_exists_reports_whether_written(d):
    assert d.put("lock", "first", skip_if_exists=True) is True
    assert d.put("lock", "second", skip_if_exists=True) is False
    assert d["lock"] == "first"
    assert d.put("lock", "third") is True
    assert d["lock"] == "third"


def test_ttl_expired_keys_are_gone(d):
    d.put("short", 1, ttl=0.2)
    d.put("long", 2, ttl=60)
    d["forever"] = 3
    assert d["short"] == 1
    time.sleep(0.3)  # the server's clock has passed the entry's expiry
    assert "short" not in d
    assert d.get("short") is None
    assert len(d) == 2
    assert sorted(d.keys()) == ["forever", "long"]
    assert d.put("short", "again", skip_if_exists=True) is True  # expired counts as absent
    assert d["short"] == "again"


def test_invalid_ttl(d):
    with pytest.raises(gw.exception.InvalidError, match="ttl=0 must be a positive number"):
        d.put("k", 1, ttl=0)


def test_oversized_key_or_value_is_rejected_and_nothing_written(d):
    with pytest.raises(gw.exception.InvalidError, match=r"dict value is 17 MiB .*limit of 16 MiB"):
        d["big"] = b"x" * (17 * 1024 * 1024)
    with pytest.raises(gw.exception.InvalidError, match=r"dict key is .*limit of 64 KiB"):
        d["k" * 70_000] = 1
    with pytest.raises(gw.exception.InvalidError, match="dict value"):
        d.update({"ok": 1, "big": b"x" * (17 * 1024 * 1024)})
    assert len(d) == 0


def test_server_enforces_size_limit_too(d):
    big = b"x" * (16 * 1024 * 1024 + 1)
    with pytest.raises(gw.exception.InvalidError, match="over the limit of 16 MiB"):
        _api.client().post(d._url("put"), {"items": [[pickle.dumps("k"), big]]})
    assert len(d) == 0


def test_from_name_missing_then_created_then_deleted(server):
    name = unique()
    with pytest.raises(gw.exception.NotFoundError, match="create_if_missing=True") as info:
        gw.Dict.from_name(name)["k"]
    assert f"gw dict create {name}" in str(info.value)
    d = gw.Dict.from_name(name, create_if_missing=True)
    d["k"] = "v"
    assert gw.Dict.from_name(name)["k"] == "v"
    gw.Dict.delete(name)
    with pytest.raises(gw.exception.NotFoundError):
        gw.Dict.from_name(name).hydrate()
    with pytest.raises(gw.exception.NotFoundError, match="does not exist"):
        d["k"]  # the old handle's id is gone too
    with pytest.raises(gw.exception.NotFoundError):
        gw.Dict.delete(name)


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "slash/name", 12])
def test_invalid_names(server, bad):
    with pytest.raises(gw.exception.InvalidError, match="1 to 64 characters from letters"):
        gw.Dict.from_name(bad)


def test_environments_are_separate(server):
    name = unique()
    if "other" not in {e.name for e in gw.environments.list_environments()}:
        gw.environments.create_environment("other")
    gw.Dict.from_name(name, create_if_missing=True)["k"] = "main"
    other = gw.Dict.from_name(name, environment_name="other", create_if_missing=True)
    assert "k" not in other
    other["k"] = "other"
    assert gw.Dict.from_name(name)["k"] == "main"


def test_ephemeral_is_deleted_on_exit(server):
    with gw.Dict.ephemeral() as d:
        d["k"] = 1
        assert d.name is None
    with pytest.raises(gw.exception.NotFoundError):
        d["k"]


def test_handles_pickle_as_references(d):
    d["k"] = "v"
    copy = pickle.loads(pickle.dumps(d))
    assert copy.object_id == d.object_id and copy["k"] == "v"
    name = unique()
    lazy = pickle.loads(pickle.dumps(gw.Dict.from_name(name, create_if_missing=True)))
    lazy["k"] = 1  # looked up (and created) on first use, on the unpickling side
    assert gw.Dict.from_name(name)["k"] == 1
