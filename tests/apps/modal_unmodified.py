"""A Modal app as Modal's docs write it: `import modal`, unchanged. It runs under `gw run`
(which resolves `import modal` to gworker when the modal package is not installed)."""

import asyncio

import modal
import modal.exception
from modal.functions import FunctionCall

app = modal.App("modal-unmodified")
image = modal.Image.debian_slim()

with image.imports():
    import json


@app.function(image=image, retries=modal.Retries(max_retries=0))
def square(x: int) -> int:
    print("This code is running on a remote worker!")
    return x * x


@app.function()
def words(text: str):
    for word in text.split():
        yield json.dumps(word)


@app.function()
async def lookup(name: str) -> str:
    q = modal.Queue.from_name(name, create_if_missing=True)
    await q.put.aio("found")
    return await q.get.aio()


@app.cls()
class Greeter:
    greeting: str = modal.parameter(default="hello")

    @modal.enter()
    def load(self) -> None:
        self.suffix = "!"

    @modal.method()
    def greet(self, name: str) -> str:
        return f"{self.greeting} {name}{self.suffix}"


@app.local_entrypoint()
async def main(name: str = "Ada") -> None:
    print("the square is", square.remote(42))
    calls = [square.spawn(i) for i in range(3)]
    assert isinstance(calls[0], FunctionCall)
    print("gathered", FunctionCall.gather(*calls))
    print("words", [w async for w in words.remote_gen.aio("to be or")])
    print("greet", await Greeter(greeting="hi").greet.remote.aio(name))
    print("queue", await lookup.remote.aio("modal-unmodified-q"))
    try:
        modal.Function.from_name("no-such-app", "f").hydrate()
    except modal.exception.NotFoundError:
        print("not found, as expected")
    await asyncio.sleep(0)
