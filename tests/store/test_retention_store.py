"""The store's part of finished work's lifetime (``store/retention.py``): expiring calls, their
rows going in bounded batches, ids never used twice, and logs past their cap or age."""

from __future__ import annotations

import time
from pathlib import Path

from gworker.store import Store

D = "d" * 64


def _call(store: Store, call_id: str, n: int) -> None:
    store.add_call(call_id, "fn-1", n)
    fresh = store.add_inputs(call_id, "fn-1", [(i, b"args") for i in range(n)], True)
    store.add_outputs([(iid, call_id, idx, "success", b"out") for iid, idx in fresh])


def test_an_expired_call_goes_in_batches_and_ids_stay_unique(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    _call(store, "fc-old", 25)
    store.track_payload(D, 1.0)
    store.hold_payloads([("fc-old", 3, "result", D, 99.0)])
    _call(store, "fc-new", 2)
    last_input, last_seq = store._next_input_id, store._next_output_seq
    assert "fc-old" in [p[1] for p in store.call_activity_page(0, 10)]
    assert not store.has_pending_inputs("fc-old")
    assert store.expire_calls(["fc-old"], 1000.0) == [D]
    assert store.call("fc-old") is None and store.call_expired_at("fc-old") == 1000.0
    assert store.payload_holds_of(D) == []
    sizes = []
    while n := store.purge_expired_calls(10):
        assert n <= 10
        sizes.append(n)
    assert sum(sizes) == 50  # 25 inputs and 25 outputs, ten at a time
    assert store.outputs_after("fc-old", 0) == [] and store.output_count("fc-new") == 2
    assert store.drop_tombstones(2000.0, 10) == 1
    # every input and output gone: a reopened store still never hands out an id twice
    store.commit()
    store.expire_calls(["fc-new"], 1000.0)
    while store.purge_expired_calls(100):
        pass
    store.close()
    store = Store(tmp_path / "state.db")
    assert store._next_input_id >= last_input and store._next_output_seq >= last_seq
    store.close()


def test_a_pending_input_is_seen() -> None:
    store = Store.in_memory()
    store.add_call("fc-1", "fn-1", 2)
    store.add_inputs("fc-1", "fn-1", [(0, b"a"), (1, b"b")], True)
    assert store.has_pending_inputs("fc-1")
    store.close()


def test_logs_past_the_cap_and_the_age_go() -> None:
    store = Store.in_memory()
    store.add_app("ap-1", "a", "main", "ephemeral")
    store.add_logs([("ap-1", None, "stdout", f"line {i}\n", float(i)) for i in range(50)])
    assert store.cap_app_rows("logs", "ap-1", 20, 7) == 7  # a batch at a time
    while store.cap_app_rows("logs", "ap-1", 20, 7):
        pass
    rows = store.logs_after("ap-1", 0)
    assert [r[2] for r in rows] == [f"line {i}\n" for i in range(30, 50)]
    assert store.drop_old_rows("logs", 40.0, 100) == 10
    assert [r[2] for r in store.logs_after("ap-1", 0)][0] == "line 40\n"
    store.close()


def test_schedule_runs_keep_each_functions_latest() -> None:
    store = Store.in_memory()
    for tick in range(5):
        store.add_schedule_run("ap-1", "f", float(tick), f"fc-{tick}", float(tick), 0)
    assert store.drop_ended(100.0, 100) == 4
    assert store.last_schedule_run("ap-1", "f") == (4.0, 4.0)
    store.close()


def test_a_call_id_made_again_keeps_its_rows() -> None:
    store = Store.in_memory()
    _call(store, "fc-2", 3)
    store.expire_calls(["fc-2"], 1000.0)
    assert store.add_call("fc-2", "fn-1", 3)  # the same id, made again before the rows went
    store.purge_expired_calls(100)
    assert store.call("fc-2") is not None and store.call_expired_at("fc-2") is None
    assert store.output_count("fc-2") == 3
    store.close()


def test_probes_stopped_containers_and_ended_sandboxes_go_after_their_time() -> None:
    store = Store.in_memory()
    store.add_app("ap-1", "a", "main", "ephemeral")
    for _ in range(30):
        store.add_probe(("ta-1", "fn-1", "ap-1", "GET", "ready", True, "", 0.1))
    assert store.cap_app_rows("probes", "ap-1", 10, 100) == 20
    assert len(store.probes("ap-1")) == 10
    store.add_container("ta-1", "fn-1", "ap-1")
    store.add_container("ta-2", "fn-1", "ap-1")
    store.set_container("ta-1", "stopped")
    store.add_sandbox("sb-1", "ap-1", None, "im-1")
    store.add_sandbox("sb-2", "ap-1", None, "im-1")
    store.end_sandbox("sb-1", "finished", 0, "")
    assert store.drop_ended(time.time() + 1, 100) == 2
    assert store.container_row("ta-1") is None and store.container_row("ta-2") is not None
    assert store.sandbox("sb-1") is None and store.sandbox("sb-2") is not None
    assert store.drop_old_rows("probes", time.time() + 1, 100) == 10
    store.close()
