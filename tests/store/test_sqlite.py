"""What the SQLite store promises beyond the contract: on disk, what was committed survives a
killed process; in memory, nothing touches the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from gworker.store import Store
from gworker_client._protocol.objects import ObjectKind


def test_disk_store_keeps_what_was_committed(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.add_call("fc-1", "fu-1", 1)
    [(first, _)] = store.add_inputs("fc-1", "fu-1", [(0, b"args")], fresh_call=True)
    store.add_object("sc-1", ObjectKind.SECRET, "main", "s")
    store.put_secret_values("sc-1", {"K": "v"})
    store.commit()
    store.add_call("fc-2", "fu-1", 1)  # never committed
    store.db.close()  # as a killed process would: no commit on the way out
    assert store.checkpointer is not None
    store.checkpointer.stop()
    again = Store(tmp_path / "state.db")
    try:
        assert again.call("fc-1") is not None and again.call("fc-2") is None
        assert again.secret_values("sc-1") == {"K": "v"}  # the key is kept beside the file
        [(second, _)] = again.add_inputs("fc-1", "fu-1", [(1, b"more")], fresh_call=False)
        assert second > first
    finally:
        again.close()


def test_memory_store_writes_no_file_and_runs_no_checkpointer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = Store.in_memory()
    try:
        assert store.checkpointer is None
        store.add_object("sc-1", ObjectKind.SECRET, "main", "s")
        store.put_secret_values("sc-1", {"K": "v"})
        store.commit()
        assert store.secret_values("sc-1") == {"K": "v"}
    finally:
        store.close()
    assert list(tmp_path.iterdir()) == []
