"""The store contract (``gworker.store.StateStore``): one suite, run against every implementation.

Each test gets a fresh store from the ``store`` fixture, once per implementation: SQLite on disk
and SQLite in memory. A new implementation joins by adding a case to ``STORES``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gworker.store import StateStore, Store
from gworker_client._protocol.objects import ObjectKind

STORES: dict[str, Callable[[Path], Store]] = {
    "sqlite-disk": lambda tmp: Store(tmp / "state.db"),
    "sqlite-memory": lambda tmp: Store.in_memory(),
}
SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    made = STORES[request.param](tmp_path)
    yield made
    made.close()


def _app(store: StateStore, app_id: str = "ap-1", env: str = "main") -> str:
    store.add_app(app_id, "demo", env, "deployed")
    return app_id


def _function(store: StateStore, fid: str = "fu-1", app_id: str = "ap-1", tag: str = "f") -> str:
    store.add_function(fid, app_id, tag, 1, "mod", "blob-1", {"timeout": 5, "nested": [1, "x"]})
    return fid


# -- tokens, apps, functions -------------------------------------------------------------------


def test_environments(store: StateStore) -> None:
    assert [(e.name, e.web_suffix) for e in store.environments()] == [("main", "")]
    assert store.add_environment("staging", "staging")
    assert not store.add_environment("staging", "other")  # the name is taken
    store.set_web_suffix("staging", "stg")
    assert store.environment("staging").web_suffix == "stg"  # type: ignore[union-attr]
    store.add_object("di-" + "1" * 20, ObjectKind.DICT, "staging", "d", None)
    assert store.environment_objects("staging") == [("di-" + "1" * 20, "dict")]
    _app(store, "ap-9", "staging")
    store.rename_environment("staging", "stage")
    assert store.environment("staging") is None and store.environment("stage") is not None
    assert store.environment_objects("stage") == [("di-" + "1" * 20, "dict")]
    assert [a["id"] for a in store.apps("stage")] == ["ap-9"]
    store.delete_environment("stage")
    assert store.environment("stage") is None


def test_environments_of_an_older_database_are_kept(tmp_path: Path) -> None:
    older = Store(tmp_path / "state.db")
    older.add_app("ap-1", "demo", "qa", "deployed")
    older.db.execute("DELETE FROM environments")  # as before environments were stored
    older.close()
    again = Store(tmp_path / "state.db")
    assert {e.name for e in again.environments()} == {"main", "qa"}
    again.close()


def test_tokens(store: StateStore) -> None:
    assert store.tokens() == {}
    store.add_token("tk-1", "hash-1")
    store.add_token("tk-2", "hash-2", user="ana", role="viewer")
    tokens = store.tokens()
    assert {tid: t.secret_hash for tid, t in tokens.items()} == {"tk-1": "hash-1", "tk-2": "hash-2"}
    assert (tokens["tk-1"].role, tokens["tk-2"].user, tokens["tk-2"].role) == (
        "admin",
        "ana",
        "viewer",
    )
    assert store.revoke_token("tk-2") and not store.revoke_token("tk-2")
    assert store.tokens()["tk-2"].revoked and not store.tokens()["tk-1"].revoked


def test_audit(store: StateStore) -> None:
    store.add_audit("ana", "developer", "POST", "/v1/apps", 200)
    store.add_audit("bo", "viewer", "POST", "/v1/secrets", 403)
    rows = store.audit()
    assert [(r.who, r.path, r.status) for r in rows] == [
        ("ana", "/v1/apps", 200),
        ("bo", "/v1/secrets", 403),
    ]
    assert [r.who for r in store.audit(after=rows[0].seq)] == ["bo"]
    store.prune_audit(keep=1)
    assert [r.who for r in store.audit()] == ["bo"]


def test_apps_by_id_environment_and_deployed_name(store: StateStore) -> None:
    _app(store, "ap-1")
    store.add_app("ap-2", "demo", "staging", "ephemeral")
    app = store.app("ap-1")
    assert app is not None
    assert (app["name"], app["environment"], app["mode"], app["state"]) == (
        "demo",
        "main",
        "deployed",
        "running",
    )
    assert store.app("ap-missing") is None
    assert [a["id"] for a in store.apps()] == ["ap-1", "ap-2"]
    assert [a["id"] for a in store.apps("staging")] == ["ap-2"]
    assert store.deployed_app("demo", "main") == "ap-1"
    assert store.deployed_app("demo", "staging") is None  # ephemeral apps are not deployed ones
    assert [store.bump_app_version("ap-1") for _ in range(3)] == [1, 2, 3]


def test_stopping_an_app_retires_its_functions(store: StateStore) -> None:
    _function(store, app_id=_app(store))
    store.stop_app("ap-1")
    app = store.app("ap-1")
    assert app is not None and app["state"] == "stopped" and app["stopped_at"] is not None
    assert store.deployed_app("demo", "main") is None
    assert store.functions(live_only=True) == []
    assert store.live_function("ap-1", "f") is None


def test_functions_superseded_bound_and_retired(store: StateStore) -> None:
    _app(store)
    _function(store, "fu-1")
    row = store.function("fu-1")
    assert row is not None
    assert row["spec"] == {"timeout": 5, "nested": [1, "x"]} and row["params"] is None
    _function(store, "fu-2")  # a redeploy of the same tag supersedes the first
    assert store.live_function("ap-1", "f") == "fu-2"
    assert [f["id"] for f in store.functions()] == ["fu-2"]
    assert {f["id"] for f in store.functions(live_only=False)} == {"fu-1", "fu-2"}
    parent = store.function("fu-2")
    assert parent is not None
    bound = store.bind_function(parent, "k" * 16, {"size": 3}, parent["spec"])
    assert store.bind_function(parent, "k" * 16, {"size": 3}, parent["spec"]) == bound  # once
    bound_row = store.function(bound)
    assert bound_row is not None
    assert bound_row["parent_id"] == "fu-2" and bound_row["params"] == {"size": 3}
    variant = store.bind_function(parent, "v" * 16, {}, {"timeout": 2})
    variant_row = store.function(variant)
    assert variant_row is not None and variant != bound
    assert variant_row["spec"] == {"timeout": 2} and variant_row["params"] == {}
    assert store.app_functions("ap-1") == {"f": "fu-2"}  # bound classes are not listed
    _function(store, "fu-3", tag="g")
    store.retire_functions("ap-1", ["fu-3"])
    assert store.app_functions("ap-1") == {"g": "fu-3"}
    assert {f["id"] for f in store.functions()} == {"fu-3"}  # the bound class went too


# -- calls, inputs, outputs --------------------------------------------------------------------


def test_calls_are_added_once_and_can_be_cancelled(store: StateStore) -> None:
    assert store.add_call("fc-1", "fu-1", None) is True
    assert store.add_call("fc-1", "fu-1", None) is False  # a retry
    store.set_call_total("fc-1", 3)
    assert store.call("fc-1") == {
        "id": "fc-1",
        "function_id": "fu-1",
        "total": 3,
        "cancelled": False,
    }
    store.cancel_call("fc-1")
    call = store.call("fc-1")
    assert call is not None and call["cancelled"] is True
    assert store.call("fc-missing") is None


def test_inputs_are_stored_once_and_retired_by_their_outputs(store: StateStore) -> None:
    store.add_call("fc-1", "fu-1", 3)
    first = store.add_inputs("fc-1", "fu-1", [(0, b"a0"), (1, b"a1")], fresh_call=True)
    assert [idx for _, idx in first] == [0, 1]
    again = store.add_inputs("fc-1", "fu-1", [(1, b"a1"), (2, b"a2")], fresh_call=False)
    assert [idx for _, idx in again] == [2]  # index 1 was stored by the first try
    ids = [iid for iid, _ in first + again]
    assert len(set(ids)) == 3
    pending = store.pending_inputs()
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in pending] == [
        (ids[0], "fc-1", 0, "fu-1", b"a0"),
        (ids[1], "fc-1", 1, "fu-1", b"a1"),
        (ids[2], "fc-1", 2, "fu-1", b"a2"),
    ]
    store.set_attempts(ids[0], 2, 123.5)
    assert store.pending_inputs()[0][5:] == (2, 123.5)
    store.add_outputs([(ids[1], "fc-1", 1, "ok", b"r1")])
    store.add_outputs([(ids[1], "fc-1", 1, "ok", b"r1")])  # a repeated output is kept once
    assert sorted(store.pending_input_ids("fc-1")) == [(ids[0], 0), (ids[2], 2)]
    assert ids[1] not in [r[0] for r in store.pending_inputs()]
    assert store.output_count("fc-1") == 1
    assert store.add_inputs("fc-1", "fu-1", [], fresh_call=False) == []


def test_outputs_come_in_order_after_a_cursor(store: StateStore) -> None:
    store.add_call("fc-1", "fu-1", 4)
    ids = [i for i, _ in store.add_inputs("fc-1", "fu-1", [(n, b"") for n in range(4)], True)]
    store.add_outputs([(ids[2], "fc-1", 2, "ok", b"r2"), (ids[0], "fc-1", 0, "error", b"e0")])
    store.add_outputs([(ids[3], "fc-1", 3, "ok", b"r3")])
    rows = store.outputs_after("fc-1", 0)
    assert [(idx, status, data) for _, idx, status, data in rows] == [
        (2, "ok", b"r2"),
        (0, "error", b"e0"),
        (3, "ok", b"r3"),
    ]
    seqs = [seq for seq, *_ in rows]
    assert seqs == sorted(seqs)
    assert [r[1] for r in store.outputs_after("fc-1", seqs[0])] == [0, 3]
    assert [r[1] for r in store.outputs_after("fc-1", 0, limit=1)] == [2]
    assert store.outputs_after("fc-other", 0) == []
    assert store.output_count("fc-1") == 3


# -- containers, probes, logs ------------------------------------------------------------------


def test_containers_live_until_stopped(store: StateStore) -> None:
    store.add_container("ct-1", "fu-1", "ap-1")
    store.add_container("ct-2", "fu-1", "ap-1")
    assert sorted(store.live_containers()) == [("ct-1", None), ("ct-2", None)]
    store.set_container("ct-1", "running", pid=4242)
    store.set_container("ct-1", "running")  # keeps the pid it has
    store.set_container("ct-2", "stopped", exit_info="exit code 1")
    assert store.live_containers() == [("ct-1", 4242)]


def test_probes_newest_last_within_a_limit(store: StateStore) -> None:
    for n in range(3):
        store.add_probe(("ct-1", "fu-1", "ap-1", "ready", "readiness", n != 1, f"d{n}", 0.5))
    store.add_probe(("ct-9", "fu-9", "ap-9", "live", "liveness", True, "", 0.1))
    rows = store.probes("ap-1")
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("ct-1", 1, "d0"),
        ("ct-1", 0, "d1"),
        ("ct-1", 1, "d2"),
    ]
    assert [r[4] for r in store.probes("ap-1", limit=2)] == ["d1", "d2"]


def test_logs_after_a_cursor(store: StateStore) -> None:
    assert store.last_log("ap-1") == 0
    now = time.time()
    store.add_logs([("ap-1", "ct-1", "stdout", f"line {n}", now) for n in range(5)])
    store.add_logs([("ap-2", None, "stderr", "other app", now)])
    rows = store.logs_after("ap-1", 0)
    assert [(stream, text) for _, stream, text in rows] == [
        ("stdout", f"line {n}") for n in range(5)
    ]
    assert store.last_log("ap-1") == rows[-1][0]
    assert [text for _, _, text in store.logs_after("ap-1", rows[2][0])] == ["line 3", "line 4"]
    assert len(store.logs_after("ap-1", 0, limit=2)) == 2
    assert [text for _, _, text in store.logs_after("ap-2", 0)] == ["other app"]


def test_one_containers_logs(store: StateStore) -> None:
    store.add_container("ct-1", "fn-1", "ap-1")
    now = time.time()
    store.add_logs([("ap-1", cid, "stdout", f"{cid} {n}", now) for n in range(3) for cid in "ab"])
    assert store.container_app("ct-1") == "ap-1"
    assert store.container_app("ct-none") is None
    rows = store.container_logs_after("a", 0)
    assert [text for _, _, text in rows] == ["a 0", "a 1", "a 2"]
    assert [text for _, _, text in store.container_logs_after("a", rows[0][0])] == ["a 1", "a 2"]


# -- the registry of named objects -------------------------------------------------------------


def test_registry_names_are_unique_per_kind_and_environment(store: StateStore) -> None:
    store.add_object("di-1", ObjectKind.DICT, "main", "cache")
    store.add_object("qu-1", ObjectKind.QUEUE, "main", "cache")  # another kind
    store.add_object("di-2", ObjectKind.DICT, "staging", "cache")  # another environment
    store.add_object("di-3", ObjectKind.DICT, "main", None)  # ephemeral: no name
    store.add_object("di-4", ObjectKind.DICT, "main", None)
    with pytest.raises(sqlite3.IntegrityError):
        store.add_object("di-5", ObjectKind.DICT, "main", "cache")
    found = store.object_by_name(ObjectKind.DICT, "main", "cache")
    assert found is not None and (found.id, found.kind, found.label) == (
        "di-1",
        "dict",
        "dict 'cache'",
    )
    assert store.object_by_name(ObjectKind.QUEUE, "staging", "cache") is None
    ephemeral = store.object("di-3")
    assert ephemeral is not None and ephemeral.name is None and ephemeral.label == "dict di-3"
    assert store.object("di-missing") is None


def test_registry_lists_named_objects_by_name(store: StateStore) -> None:
    for oid, name in [("vo-1", "b"), ("vo-2", "a"), ("vo-3", None)]:
        store.add_object(oid, ObjectKind.VOLUME, "main", name)
    store.add_object("vo-4", ObjectKind.VOLUME, "staging", "c")
    store.add_object("sc-1", ObjectKind.SECRET, "main", "z")
    assert [o.id for o in store.named_objects(ObjectKind.VOLUME, "main")] == ["vo-2", "vo-1"]
    assert [o.name for o in store.named_objects(ObjectKind.SECRET, "main")] == ["z"]


def test_touching_an_object_moves_only_its_update_time(store: StateStore) -> None:
    store.add_object("di-1", ObjectKind.DICT, "main", "d")
    before = store.object("di-1")
    assert before is not None and before.updated_at == before.created_at
    time.sleep(0.01)
    store.touch_object("di-1")
    after = store.object("di-1")
    assert after is not None
    assert after.created_at == before.created_at and after.updated_at > before.updated_at


def test_deleting_an_object_deletes_only_its_contents(store: StateStore) -> None:
    for oid, kind in [("di-1", ObjectKind.DICT), ("di-2", ObjectKind.DICT)]:
        store.add_object(oid, kind, "main", None)
        store.dict_put(oid, [(b"k", b"v")], None, False)
    store.add_object("qu-1", ObjectKind.QUEUE, "main", "q")
    store.queue_put("qu-1", "", [b"x"], "put-1")
    store.add_object("vo-1", ObjectKind.VOLUME, "main", "v")
    store.volume_apply("vo-1", "commit-1", [("a.txt", SHA_A, 1, 0o644, 1.0)], [])
    store.add_object("sc-1", ObjectKind.SECRET, "main", "s")
    store.put_secret_values("sc-1", {"K": "v"})
    for oid in ["di-1", "qu-1", "vo-1", "sc-1"]:
        store.delete_object(oid)
        assert store.object(oid) is None
    store.delete_object("di-1")  # deleting a deleted object does nothing
    assert store.dict_len("di-1") == 0 and store.dict_get("di-2", b"k") == b"v"
    assert store.queue_total("qu-1") == 0
    assert store.volume_manifest("vo-1") == [] and store.volume_version("vo-1") == 0
    assert not store.sha_referenced(SHA_A) and store.volume_commit_version("commit-1") is None
    assert store.secret_values("sc-1") is None and store.secret_keys("sc-1") is None


def test_stopped_apps_lose_their_inline_objects(store: StateStore) -> None:
    _app(store, "ap-1")
    _app(store, "ap-2")
    store.add_object("sc-1", ObjectKind.SECRET, "main", None, app_id="ap-1")
    store.add_object("sc-2", ObjectKind.SECRET, "main", None, app_id="ap-2")
    store.put_secret_values("sc-1", {"K": "1"})
    store.stop_app("ap-1")
    store.drop_stopped_apps_objects()
    assert store.object("sc-1") is None and store.secret_values("sc-1") is None
    assert store.object("sc-2") is not None


# -- dicts ---------------------------------------------------------------------------------------


def test_dict_entries(store: StateStore) -> None:
    store.add_object("di-1", ObjectKind.DICT, "main", "d")
    assert store.dict_put("di-1", [(b"a", b"1"), (b"b", b"2")], None, False) == 2
    assert store.dict_put("di-1", [(b"a", b"one"), (b"c", b"3")], None, True) == 1  # a is kept
    assert store.dict_get("di-1", b"a") == b"1" and store.dict_get("di-1", b"z") is None
    assert store.dict_put("di-1", [(b"a", b"uno")], None, False) == 1
    assert store.dict_get("di-1", b"a") == b"uno"
    assert store.dict_contains("di-1", b"b") and not store.dict_contains("di-1", b"z")
    assert store.dict_len("di-1") == 3
    assert store.dict_pop("di-1", b"b") == b"2" and store.dict_pop("di-1", b"b") is None
    store.dict_clear("di-1")
    assert store.dict_len("di-1") == 0


def test_dict_entries_expire(store: StateStore) -> None:
    store.dict_put("di-1", [(b"old", b"1")], time.time() - 1, False)
    store.dict_put("di-1", [(b"new", b"2")], time.time() + 60, False)
    assert store.dict_get("di-1", b"old") is None and not store.dict_contains("di-1", b"old")
    assert store.dict_len("di-1") == 1
    assert store.dict_put("di-1", [(b"old", b"3")], None, True) == 1  # expired counts as absent
    store.purge_expired()
    assert store.dict_get("di-1", b"old") == b"3"


def test_dict_scan_pages_in_key_order(store: StateStore) -> None:
    store.dict_put("di-1", [(bytes([c]), b"v" * 10) for c in b"dcba"], None, False)
    assert store.dict_scan("di-1", None, False, 10, 1 << 20) == [
        (b"a", None),
        (b"b", None),
        (b"c", None),
        (b"d", None),
    ]
    assert store.dict_scan("di-1", b"b", True, 1, 1 << 20) == [(b"c", b"v" * 10)]
    assert len(store.dict_scan("di-1", None, True, 10, 25)) == 2  # about 25 bytes of entries
    assert len(store.dict_scan("di-1", None, True, 10, 0)) == 1  # always at least one


# -- queues --------------------------------------------------------------------------------------


def test_queue_items_first_in_first_out_per_partition(store: StateStore) -> None:
    store.queue_put("qu-1", "", [b"1", b"2", b"3"], "put-1")
    store.queue_put("qu-1", "p", [b"x"], "put-2")
    assert store.queue_put_done("put-1") and not store.queue_put_done("put-9")
    assert store.queue_len("qu-1", "") == 3 and store.queue_total("qu-1") == 4
    assert store.queue_take("qu-1", "", 2, 1 << 20, "get-1") == [b"1", b"2"]
    assert store.queue_taken("get-1") == [b"1", b"2"]  # what a retry of get-1 receives
    assert store.queue_taken("get-9") == []
    assert store.queue_len("qu-1", "") == 1 and store.queue_total("qu-1") == 2
    assert store.queue_take("qu-1", "", 5, 0, "get-2") == [b"3"]  # at least one
    assert store.queue_take("qu-1", "", 5, 1 << 20, "get-3") == []
    assert store.queue_take("qu-1", "p", 5, 1 << 20, "get-4") == [b"x"]


def test_queue_take_and_peek_stay_within_max_bytes(store: StateStore) -> None:
    store.queue_put("qu-1", "", [b"a" * 10, b"b" * 10, b"c" * 10], "put-1")
    peeked = store.queue_peek("qu-1", "", 0, 10, 25)
    assert [v for _, v in peeked] == [b"a" * 10, b"b" * 10]
    assert [v for _, v in store.queue_peek("qu-1", "", peeked[0][0], 10, 1 << 20)] == [
        b"b" * 10,
        b"c" * 10,
    ]
    assert store.queue_len("qu-1", "") == 3  # peeking removes nothing
    assert store.queue_take("qu-1", "", 10, 15, "get-1") == [b"a" * 10]


def test_queue_clear_one_partition_or_all(store: StateStore) -> None:
    store.queue_put("qu-1", "", [b"1"], "put-1")
    store.queue_put("qu-1", "p", [b"2"], "put-2")
    store.queue_put("qu-1", "q", [b"3"], "put-3")
    store.queue_clear("qu-1", "p")
    assert (store.queue_len("qu-1", "p"), store.queue_total("qu-1")) == (0, 2)
    store.queue_clear("qu-1", None)
    assert store.queue_total("qu-1") == 0


# -- volumes -------------------------------------------------------------------------------------


def _volume(store: StateStore) -> str:
    store.add_object("vo-1", ObjectKind.VOLUME, "main", "v")
    return "vo-1"


def test_volume_commits_merge_into_new_versions(store: StateStore) -> None:
    vid = _volume(store)
    assert store.volume_version(vid) == 0 and store.volume_manifest(vid) == []
    changes = [("a.txt", SHA_A, 1, 0o644, 1.0), ("d/b.txt", SHA_B, 2, 0o600, 2.0)]
    assert store.volume_apply(vid, "c-1", changes, []) == (1, set())
    assert store.volume_commit_version("c-1") == 1 and store.volume_commit_version("c-9") is None
    assert store.volume_manifest(vid) == changes
    assert store.volume_file(vid, "d/b.txt") == changes[1] and store.volume_file(vid, "d") is None
    assert store.volume_is_dir(vid, "d") and not store.volume_is_dir(vid, "a.txt")
    assert store.volume_usage(vid) == (2, 3) and store.volume_shas(vid) == {SHA_A, SHA_B}
    version, released = store.volume_apply(vid, "c-2", [("a.txt", SHA_C, 3, 0o644, 3.0)], [])
    assert (version, released) == (2, {SHA_A})
    assert store.unreferenced([SHA_A, SHA_B, SHA_C]) == [SHA_A]
    assert store.volume_apply(vid, "c-3", [], ["a.txt"]) == (3, {SHA_C})
    assert store.volume_apply(vid, "c-4", [], [], ["d"]) == (4, {SHA_B})
    assert store.volume_manifest(vid) == []


def test_volume_paths_stay_a_tree(store: StateStore) -> None:
    vid = _volume(store)
    store.volume_apply(vid, "c-1", [("a", SHA_A, 1, 0o644, 1.0)], [])
    store.volume_apply(vid, "c-2", [("a/b", SHA_B, 1, 0o644, 1.0)], [])  # replaces the file a
    assert [r[0] for r in store.volume_manifest(vid)] == ["a/b"]
    assert store.volume_conflicts(vid, ["a", "a/b", "a/b/c", "x"]) == ["a", "a/b", "a/b/c"]
    store.volume_apply(vid, "c-3", [("a", SHA_C, 1, 0o644, 1.0)], [])  # replaces the tree a/
    assert [r[0] for r in store.volume_manifest(vid)] == ["a"]


def test_volume_listdir(store: StateStore) -> None:
    vid = _volume(store)
    rows = [("top.txt", SHA_A, 1, 0o644, 1.0), ("d/x.txt", SHA_B, 2, 0o644, 5.0)]
    store.volume_apply(vid, "c-1", rows + [("d/e/y.txt", SHA_C, 3, 0o644, 9.0)], [])
    assert store.volume_listdir(vid, "", False) == [
        ("d", "dir", 0, 9.0),
        ("top.txt", "file", 1, 1.0),
    ]
    assert store.volume_listdir(vid, "d", True) == [
        ("d/e", "dir", 0, 9.0),
        ("d/e/y.txt", "file", 3, 9.0),
        ("d/x.txt", "file", 2, 5.0),
    ]
    assert store.volume_listdir(vid, "top.txt", False) == [("top.txt", "file", 1, 1.0)]
    assert store.volume_listdir(vid, "nothing", False) is None


def test_volume_blobs_belong_to_the_volumes_that_use_them(store: StateStore) -> None:
    vid = _volume(store)
    store.add_object("vo-2", ObjectKind.VOLUME, "main", "w")
    store.volume_apply(vid, "c-1", [("a", SHA_A, 1, 0o644, 1.0)], [])
    store.volume_apply("vo-2", "c-2", [("a", SHA_A, 1, 0o644, 1.0)], [])
    assert store.sha_in_volume(vid, SHA_A) and not store.sha_in_volume(vid, SHA_B)
    store.delete_object("vo-2")
    assert store.sha_referenced(SHA_A) and store.unreferenced([SHA_A]) == []


def test_volume_commits_touch_the_volume_and_can_be_pruned(store: StateStore) -> None:
    vid = _volume(store)
    created = store.object(vid)
    time.sleep(0.01)
    store.volume_apply(vid, "c-1", [("a", SHA_A, 1, 0o644, 1.0)], [])
    touched = store.object(vid)
    assert created is not None and touched is not None
    assert touched.updated_at > created.updated_at
    store.prune_volume_commits(time.time() + 1)
    assert store.volume_commit_version("c-1") is None
    assert store.volume_version(vid) == 1  # the version stays


# -- secrets -------------------------------------------------------------------------------------


def test_secret_values(store: StateStore) -> None:
    store.add_object("sc-1", ObjectKind.SECRET, "main", "s")
    store.put_secret_values("sc-1", {"B": "2", "A": "1"})
    assert store.secret_keys("sc-1") == ["A", "B"]
    assert store.secret_values("sc-1") == {"A": "1", "B": "2"}
    store.put_secret_values("sc-1", {"C": "3"})  # replaces them all
    assert store.secret_values("sc-1") == {"C": "3"} and store.secret_keys("sc-1") == ["C"]
    assert store.secret_values("sc-missing") is None


def test_inline_secrets_are_found_by_their_values(store: StateStore) -> None:
    _app(store)
    store.add_object("sc-1", ObjectKind.SECRET, "main", None, app_id="ap-1")
    store.put_secret_values("sc-1", {"K": "v"})
    store.add_object("sc-2", ObjectKind.SECRET, "main", "named")
    store.put_secret_values("sc-2", {"K": "w"})
    assert store.inline_secret("ap-1", {"K": "v"}) == "sc-1"
    assert store.inline_secret("ap-1", {"K": "w"}) is None  # a named one is not inline
    assert store.inline_secret("ap-2", {"K": "v"}) is None
