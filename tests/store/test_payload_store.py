"""The store's part of large payloads' lifetime (``store/payloads.py``): tracked blobs, their
holds, expiry, and the sweep's pages, on SQLite on disk and in memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gworker.store import StateStore, Store

A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture(params=["disk", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    made = Store(tmp_path / "state.db") if request.param == "disk" else Store.in_memory()
    yield made
    made.close()


def _page(store: StateStore) -> dict[str, tuple[float, bool]]:
    return {d: (t, held) for _, d, t, held in store.payload_page(0, 100)}


def test_holds_keep_tracked_blobs_and_release_touches_them(store: StateStore) -> None:
    store.track_payload(A, 10.0)
    store.track_payload(B, 10.0)
    store.hold_payloads([("fc-1", 0, "args", A, None), ("fc-1", 1, "result", B, 50.0)])
    assert _page(store) == {A: (10.0, True), B: (10.0, True)}
    assert store.held_args() == [("fc-1", 0)]
    store.release_payloads([("fc-1", 0, "args")], 20.0)
    assert _page(store)[A] == (20.0, False)
    assert store.expire_payload_holds(40.0, 10) == 0  # B's result is kept until 50
    assert store.expire_payload_holds(60.0, 10) == 1
    assert _page(store)[B] == (10.0, False)
    store.forget_payloads([A, B])
    assert _page(store) == {}


def test_pins_code_bundles_and_pages(store: StateStore) -> None:
    store.add_app("ap-1", "demo", "main", "deployed")
    store.add_function("fu-1", "ap-1", "f", 1, "mod", C, {})
    for digest in (A, B, C):
        store.track_payload(digest, 1.0)
    assert _page(store)[C] == (1.0, True)  # a function's code bundle is never a payload to drop
    store.pin_blob(A)
    assert not store.is_tracked_payload(A) and store.is_tracked_payload(B)
    first = store.payload_page(0, 1)
    assert len(first) == 1 and [r[1] for r in store.payload_page(first[0][0], 10)] == [C]
    store.touch_payloads([B, A], 5.0)  # an untracked blob stays untracked
    assert _page(store)[B] == (5.0, False) and not store.is_tracked_payload(A)
