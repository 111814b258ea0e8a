"""The sandbox agent's file handles, used from many threads at once (one per request): every
open gets its own handle, the limit holds, and a handle closes once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gworker_client._runtime import sandbox_files
from gworker_client._runtime.sandbox_files import Files


def test_concurrent_opens_get_distinct_handles(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sandbox_files, "MAX_HANDLES", 40)
    (tmp_path / "f").write_text("x")
    files, got, refused = Files(), [], []
    start = threading.Barrier(64)

    def open_one() -> None:
        start.wait()
        try:
            got.append(files.run({"op": "open", "path": str(tmp_path / "f"), "mode": "r"}))
        except OSError as e:
            refused.append(e.errno)

    threads = [threading.Thread(target=open_one) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == len(files.handles) == 40 and len(refused) == 24
    handle = int.from_bytes(got[0], "big")
    files.run({"op": "close", "handle": handle})
    with pytest.raises(OSError, match="not open"):
        files.run({"op": "close", "handle": handle})
