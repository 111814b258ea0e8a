"""An app of async functions, generators (sync and async) and an async local entrypoint."""

import asyncio

import gworker_client as gw

app = gw.App("async-gen")


class StreamError(Exception):
    pass


@app.function()
async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@app.function()
def count_up(n: int, fail_at: int = -1):
    for i in range(n):
        if i == fail_at:
            raise StreamError(f"failed at {i}")
        yield i


@app.function()
async def count_up_async(n: int, fail_at: int = -1):
    for i in range(n):
        if i == fail_at:
            raise StreamError(f"failed at {i}")
        await asyncio.sleep(0)
        yield {"i": i}


@app.function()
def gated(q: gw.Queue):
    """Yields one item, then waits for the caller's go-ahead: items arrive as produced."""
    yield "first"
    yield q.get(timeout=60)


@app.function(retries=gw.Retries(max_retries=1, initial_delay=0.0))
def flaky(attempts: gw.Dict, n: int):
    """Fails after two items on its first attempt; the retry yields all of them."""
    attempt = attempts.get("attempt", 0)
    attempts["attempt"] = attempt + 1
    for i in range(n):
        if attempt == 0 and i == 2:
            raise StreamError("first attempt fails")
        yield i


@app.cls()
class Counter:
    @gw.method()
    def up(self, n: int):
        yield from range(n)

    @gw.method()
    async def total(self, n: int) -> int:
        return sum(range(n))


@app.local_entrypoint()
async def main(n: int = 3) -> None:
    doubled = await double.remote.aio(n)
    items = [item async for item in count_up.remote_gen.aio(n)]
    print("doubled", doubled, "items", items)
