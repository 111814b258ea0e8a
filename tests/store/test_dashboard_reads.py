"""The store's reads for the dashboard: an app's containers, one container, its own log lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gworker.store import StateStore, Store


@pytest.fixture(params=["disk", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    made = Store(tmp_path / "state.db") if request.param == "disk" else Store.in_memory()
    yield made
    made.close()


def test_containers_and_their_logs(store: StateStore) -> None:
    store.add_app("ap-1", "demo", "main", "deployed")
    store.add_function("fu-1", "ap-1", "f", 1, "mod", "blob", {})
    store.add_container("ct-1", "fu-1", "ap-1")
    store.add_container("ct-2", "fu-1", "ap-1")
    store.set_container("ct-1", "stopped", exit_info="exit code 0")
    store.add_logs(
        [
            ("ap-1", "ct-1", "stdout", "one\n", 1.0),
            ("ap-1", "ct-2", "stdout", "two\n", 2.0),
            ("ap-1", None, "build", "built\n", 3.0),
            ("ap-1", "ct-1", "stderr", "three\n", 4.0),
        ]
    )
    store.commit()
    rows = {c["id"]: c for c in store.containers_of_app("ap-1")}
    assert rows["ct-1"]["exit_info"] == "exit code 0" and rows["ct-1"]["function"] == "f"
    assert rows["ct-2"]["state"] == "starting"
    one = store.container_row("ct-1")
    assert one is not None and one["app_id"] == "ap-1" and one["function_id"] == "fu-1"
    assert store.container_row("ct-none") is None
    assert [t for _, _, t in store.container_logs("ct-1", 0)] == ["one\n", "three\n"]
    first = store.container_logs("ct-1", 0)[0][0]
    assert [t for _, _, t in store.container_logs("ct-1", first)] == ["three\n"]
