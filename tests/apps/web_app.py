"""Web endpoints of every kind, served through the gateway in tests/e2e/test_web.py."""

import os
import time

from pydantic import BaseModel

import gworker_client as gw

# fastapi is the image's, as in Modal; the gateway's web server (uvicorn) comes with the runtime
image = gw.Image.debian_slim().pip_install("fastapi")
app = gw.App("web-test", image=image)
WEB_SERVER_PORT = 28731


class Item(BaseModel):
    name: str
    price: float


@app.function()
@gw.fastapi_endpoint()
def square(x: int, label: str = "result") -> dict[str, object]:
    return {label: x * x}


@app.function()
@gw.fastapi_endpoint(method="POST", docs=True)
def create_item(item: Item) -> dict[str, object]:
    return {"name": item.name.upper(), "with_tax": round(item.price * 1.2, 2)}


@app.function()
@gw.web_endpoint(requires_proxy_auth=True)
def private() -> dict[str, str]:
    return {"secret": "only with a proxy token"}


@app.function()
@gw.concurrent(max_inputs=2)
@gw.fastapi_endpoint()
def barrier(queue: str, n: int) -> str:
    """Hold until ``n`` requests are in flight at once (at most 2 per container), then answer
    with this container's id: the gateway must have scaled out for the barrier to open."""
    q = gw.Queue.from_name(queue, create_if_missing=True)
    q.put(os.environ["GW_CONTAINER_ID"])
    deadline = time.monotonic() + 60
    while q.len() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.environ["GW_CONTAINER_ID"]


@app.function()
@gw.asgi_app()
def fastapi_app() -> object:
    from fastapi import FastAPI, Request, Response, WebSocket
    from fastapi.responses import StreamingResponse

    web = FastAPI()

    @web.get("/stream")
    def stream(n: int = 5) -> StreamingResponse:
        def events():  # type: ignore[no-untyped-def]
            for i in range(n):
                yield f"data: event {i}\n\n"
                time.sleep(0.05)

        return StreamingResponse(events(), media_type="text/event-stream")

    @web.post("/size")
    async def size(request: Request) -> dict[str, object]:
        import hashlib

        h, total = hashlib.sha256(), 0
        async for chunk in request.stream():
            h.update(chunk)
            total += len(chunk)
        return {"bytes": total, "sha256": h.hexdigest()}

    @web.get("/status/{code}")
    def status(code: int) -> Response:
        response = Response(content=f"status {code}", status_code=code)
        response.headers["X-Custom"] = "kept"
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    @web.get("/whoami")
    def whoami(request: Request) -> dict[str, object]:
        return {"path": request.url.path, "host": request.headers.get("host")}

    @web.websocket("/ws")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            text = await ws.receive_text()
            if text == "bye":
                await ws.close(code=1000)
                return
            await ws.send_text(f"echo: {text}")

    return web


@app.function()
@gw.wsgi_app()
def wsgi() -> object:
    def application(environ, start_response):  # type: ignore[no-untyped-def]
        body = f"wsgi {environ['REQUEST_METHOD']} {environ['PATH_INFO']}"
        body += f" {environ['QUERY_STRING']}"
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Wsgi", "yes")])
        return [body.encode()]

    return application


@app.function()
@gw.asgi_app(label="gw-test-labelled", custom_domains=["api.gw-test.example"])
def labelled() -> object:
    async def asgi(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        host = dict(scope["headers"]).get(b"host", b"").decode()
        body = f"labelled {scope['path']} {host}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return asgi


@app.function()
@gw.web_server(WEB_SERVER_PORT, startup_timeout=30)
def file_server() -> None:
    import subprocess
    import sys
    import tempfile

    root = tempfile.mkdtemp(prefix="gw-web-server-")
    with open(os.path.join(root, "hello.txt"), "w") as f:
        f.write("hello from a web server\n")
    argv = [sys.executable, "-m", "http.server", str(WEB_SERVER_PORT), "--bind", "127.0.0.1"]
    subprocess.Popen(argv, cwd=root)


@app.cls()
class Model:
    @gw.enter()
    def load(self) -> None:
        self.weights = {"hello": 3}  # stands for a model loaded once per container

    @gw.method()
    def score(self, word: str) -> int:
        return self.weights.get(word, 0)

    @gw.fastapi_endpoint()
    def predict(self, word: str) -> dict[str, object]:
        return {"word": word, "score": self.weights.get(word, 0), "pid": os.getpid()}


@app.function()
def plain(x: int) -> int:
    return x + 1
