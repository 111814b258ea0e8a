"""The call book answers callers from memory and from the store alike: the same rows, in order,
whatever the cursor, after a reload, and past the memory cap."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gworker.server import call_book
from gworker.server.call_book import CallBook
from gworker.store import Store


@pytest.fixture
def book(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    yield CallBook(store)
    store.close()


def _call(book: CallBook, call_id: str, n: int) -> list[tuple[int, int]]:
    book.store.add_call(call_id, "fu-x", n)
    book.add(call_id, "fu-x", n)
    return book.store.add_inputs(call_id, "fu-x", [(i, b"args") for i in range(n)], True)


def _wait(book: CallBook, call_id: str, after: int, timeout: float = 0.0):
    return asyncio.run(book.wait(call_id, after, timeout))


def test_memory_and_store_give_the_same_rows(book: CallBook):
    inputs = _call(book, "fc-a", 3)
    book.record([(iid, "fc-a", idx, "success", b"r%d" % idx) for iid, idx in inputs[:2]])
    rows, total = _wait(book, "fc-a", 0)
    assert total == 3
    assert [r[1:] for r in rows] == [(0, "success", b"r0"), (1, "success", b"r1")]
    assert rows == book.store.outputs_after("fc-a", 0)
    # a cursor past the first row lets memory drop it; the rest still come from memory
    later, _ = _wait(book, "fc-a", rows[0][0])
    assert later == rows[1:]
    assert book.recent["fc-a"].rows == rows[1:]
    # an older cursor (another reader of the same call) is answered from the store
    again, _ = _wait(book, "fc-a", 0)
    assert again == rows


def test_a_waiting_caller_is_woken_by_an_output(book: CallBook):
    (iid, idx), *_ = _call(book, "fc-w", 1)

    async def scenario():
        waiter = asyncio.ensure_future(book.wait("fc-w", 0, 5.0))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        book.record([(iid, "fc-w", idx, "success", b"done")])
        return await waiter

    rows, total = asyncio.run(scenario())
    assert [r[1:] for r in rows] == [(0, "success", b"done")] and total == 1


def test_a_second_output_for_an_input_is_ignored(book: CallBook):
    (iid, idx), *_ = _call(book, "fc-d", 2)
    book.record([(iid, "fc-d", idx, "success", b"first")])
    book.record([(iid, "fc-d", idx, "failure", b"second")])
    rows, _ = _wait(book, "fc-d", 0)
    assert [r[2:] for r in rows] == [("success", b"first")]
    assert book.calls["fc-d"].done == 1


def test_a_reloaded_call_reads_its_old_outputs_from_the_store(book: CallBook):
    inputs = _call(book, "fc-r", 2)
    book.record([(inputs[0][0], "fc-r", 0, "success", b"old")])
    del book.calls["fc-r"], book.recent["fc-r"]  # as after a restart
    book.record([(inputs[1][0], "fc-r", 1, "success", b"new")])  # nobody held the call
    rows, _ = _wait(book, "fc-r", 0)
    assert [r[3] for r in rows] == [b"old", b"new"]
    assert book.calls["fc-r"].finished


def test_past_the_memory_cap_callers_read_the_store(book: CallBook, monkeypatch):
    monkeypatch.setattr(call_book, "RECENT_MAX_BYTES", 10)
    inputs = _call(book, "fc-big", 3)
    book.record([(iid, "fc-big", idx, "success", b"x" * 6) for iid, idx in inputs])
    assert book.recent["fc-big"].rows[-1][1] == 2  # memory dropped what passed the cap
    rows, _ = _wait(book, "fc-big", 0)
    assert [r[1] for r in rows] == [0, 1, 2]


def _awaited(book: CallBook, call_id: str) -> int:
    assert book.add_awaited(call_id, "fu-x", 1)
    ((iid, idx),) = book.new_inputs(call_id, "fu-x", [(0, b"args")], True)
    return iid


def test_an_awaited_call_lives_in_memory_until_answered(book: CallBook):
    iid = _awaited(book, "fc-aw")
    # a re-sent request joins the call: no second input
    assert not book.add_awaited("fc-aw", "fu-x", 1)
    assert book.new_inputs("fc-aw", "fu-x", [(0, b"args")], False) == []
    book.record([(iid, "fc-aw", 0, "success", b"result")])
    assert book.store.call("fc-aw") is None
    assert book.store.outputs_after("fc-aw", 0) == [] and book.store.pending_inputs() == []
    book.forget_finished()
    assert "fc-aw" in book.calls  # not handed out yet: kept for the caller's re-sent request
    rows, total = _wait(book, "fc-aw", 0)
    assert [r[1:] for r in rows] == [(0, "success", b"result")] and total == 1
    book.forget_finished()
    assert "fc-aw" not in book.calls and "fc-aw" not in book.awaited


def test_an_awaited_call_is_stored_before_its_caller_is_told_to_ask_later(book: CallBook):
    iid = _awaited(book, "fc-late")
    rows, _ = _wait(book, "fc-late", 0)
    assert rows == []
    book.persist("fc-late")
    assert book.store.call("fc-late") is not None
    assert [r[:3] + (r[4],) for r in book.store.pending_inputs()] == [(iid, "fc-late", 0, b"args")]
    # its output now goes to the store like any other call's
    book.record([(iid, "fc-late", 0, "success", b"late")])
    assert [r[3] for r in book.store.outputs_after("fc-late", 0)] == [b"late"]
    assert book.store.pending_inputs() == []


def test_an_awaited_call_refused_before_its_input_is_forgotten(book: CallBook, monkeypatch):
    assert book.add_awaited("fc-refused", "fu-x", 1)  # then, say, its GPU check fails
    book.forget_finished()
    assert "fc-refused" in book.calls
    monkeypatch.setattr(call_book, "AWAITED_KEEP_S", 0.0)
    book.forget_finished()
    assert "fc-refused" not in book.calls and "fc-refused" not in book.awaited
