"""Call graphs (`FunctionCall.get_call_graph()`): a function's calls hang under its input, and a
web endpoint's under the request that made them, as the web job queue example polls them.
Imported by the tests, so it spells the import line `import gworker_client as modal`."""

import time

import gworker_client as modal

image = modal.Image.debian_slim().pip_install("fastapi")
app = modal.App("modal-examples-graph", image=image)


@app.cls()
class Backend:
    @modal.method()
    def run(self, text: str) -> str:
        return text[::-1]


@app.function()
def leaf(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return 2 * x


@app.function()
def fan_out(n: int) -> dict:
    spawned = [leaf.spawn(i) for i in range(n)]
    total = sum(c.get() for c in spawned)
    total += leaf.remote(n)  # an awaited call, which the server keeps only in memory
    try:
        leaf.remote(-1)
    except ValueError:
        pass
    return {"input_id": modal.current_input_id(), "total": total, "child": spawned[0].object_id}


@app.function()
@modal.asgi_app(label="graph")
def web():
    from fastapi import FastAPI

    web_app = FastAPI()

    @web_app.post("/run/{text}")
    async def submit(text: str) -> dict:
        fc = Backend().run.spawn(text)
        while len(fc.get_call_graph()) == 0:
            time.sleep(0.1)
        return {"request_id": fc.object_id, "input_id": modal.current_input_id()}

    @web_app.get("/status/{request_id}")
    async def status(request_id: str) -> dict:
        fc = modal.FunctionCall.from_id(request_id)
        info = fc.get_call_graph()[0].children[0]
        assert info.function_call_id == fc.object_id, "unexpected graph"
        return {"status": info.status.name, "function": info.function_name}

    @web_app.get("/result/{request_id}")
    async def result(request_id: str) -> dict:
        return {"response": modal.FunctionCall.from_id(request_id).get()}

    return web_app
