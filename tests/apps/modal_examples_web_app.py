"""A web app that redirects to its own absolute paths, as Modal's poll_delayed_result example
does (`request.url.replace(path="/result")`): right behind Modal's one host per endpoint, and
under gworker's `/web/<label>` paths once the gateway places the redirect under the prefix."""

import modal

image = modal.Image.debian_slim().pip_install("fastapi")
app = modal.App("modal-examples-web", image=image)


@app.function()
@modal.asgi_app(label="redirecting")
def web():
    from fastapi import FastAPI, Request
    from fastapi.responses import RedirectResponse

    web_app = FastAPI()

    @web_app.get("/submit")
    def submit(request: Request, n: int) -> RedirectResponse:
        return RedirectResponse(request.url.replace(path="/result", query=f"n={n}"))

    @web_app.get("/relative")
    def relative() -> RedirectResponse:
        return RedirectResponse("/result?n=1")

    @web_app.get("/away")
    def away() -> RedirectResponse:
        return RedirectResponse("http://example.invalid/elsewhere")

    @web_app.get("/result")
    def result(n: int) -> dict[str, int]:
        return {"square": n * n}

    return web_app
