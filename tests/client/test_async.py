"""``.aio`` forms of blocking operations and ``async with app.run()``, against a real server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from async_gen_app import Counter, app, count_up, double

import gworker_client as gw


def test_async_app_runs_under_async_with(server):
    async def main() -> tuple[int, list[int], list[int], list[int], list[int], int, int]:
        async with app.run():
            one = await double.remote.aio(21)
            mapped = [x async for x in double.map.aio(range(5))]
            starred = [x async for x in double.starmap.aio([(1,), (2,)])]
            calls = [await double.spawn.aio(i) for i in range(3)]
            gathered = await gw.FunctionCall.gather.aio(*calls)
            await double.for_each.aio(range(3))
            got = await calls[0].get.aio()
            total = await Counter().total.remote.aio(5)
            return one, mapped, starred, gathered, [got], total, len(calls)

    one, mapped, starred, gathered, got, total, n = asyncio.run(main())
    assert one == 42
    assert mapped == [0, 2, 4, 6, 8]
    assert starred == [2, 4]
    assert gathered == [0, 2, 4]
    assert got == [0]
    assert total == 10
    assert n == 3


def test_sync_forms_still_block(server):
    with app.run():
        assert double.remote(2) == 4
        calls = [double.spawn(i) for i in range(3)]
        assert gw.FunctionCall.gather(*calls) == [0, 2, 4]
        assert list(double.map([1, 2])) == [2, 4]


def test_gather_rejects_what_is_not_a_call():
    with pytest.raises(gw.exception.InvalidError, match="takes FunctionCalls, not 3"):
        gw.FunctionCall.gather(3)


def test_queue_and_dict_aio(server):
    async def main() -> tuple[list[int], int, list[int], object, list[str], list[str], int]:
        async with gw.Queue.ephemeral() as q:
            await q.put.aio(1)
            await q.put_many.aio([2, 3, 4])
            assert await q.len.aio() == 4
            peeked = [x async for x in q.iterate()]
            first = await q.get.aio()
            rest = await q.get_many.aio(10)
            left = await q.len.aio()
        d = gw.Dict.from_name(f"aio-{uuid.uuid4().hex[:8]}", create_if_missing=True)
        await d.put.aio("a", 1)
        await d.update.aio(b=2)
        value = await d.get.aio("a")
        keys = sorted([k async for k in d])
        keys_aio = sorted([k async for k in d.keys.aio()])
        assert await d.len.aio() == 2
        return peeked, first, rest, value, keys, keys_aio, left

    peeked, first, rest, value, keys, keys_aio, left = asyncio.run(main())
    assert peeked == [1, 2, 3, 4]
    assert (first, rest, left) == (1, [2, 3, 4], 0)
    assert value == 1
    assert keys == keys_aio == ["a", "b"]


def test_volume_aio(server, tmp_path):
    vol = gw.Volume.from_name(f"aio-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    src = tmp_path / "f.txt"
    src.write_text("hello")

    async def main() -> tuple[list[str], bytes]:
        async with vol.batch_upload() as batch:
            batch.put_file(src, "/f.txt")
        names = [e.path for e in await vol.listdir.aio("/")]
        data = b"".join([chunk async for chunk in vol.read_file.aio("/f.txt")])
        await vol.remove_file.aio("/f.txt")
        return names, data

    names, data = asyncio.run(main())
    assert names == ["f.txt"]
    assert data == b"hello"
    assert vol.listdir("/") == []


def test_an_async_generator_of_items_is_one_call(server):
    with app.run():
        assert list(count_up.remote_gen(3)) == [0, 1, 2]


def test_volume_version_is_checked():
    assert gw.Volume.from_name("v", version=2).name == "v"
    with pytest.raises(gw.exception.InvalidError, match="version is 1, 2 or None"):
        gw.Volume.from_name("v", version=3)
