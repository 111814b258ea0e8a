"""The issue's first example: a function, retries, live logs and a parallel map."""

import gworker_client as gw

app = gw.App("my-app")


@app.function(
    timeout=60, retries=gw.Retries(max_retries=2, backoff_coefficient=2.0, initial_delay=1.0)
)
def hello(name: str) -> str:
    print("running remotely")  # streamed live to the caller's terminal
    return f"Hello, {name}!"


@app.local_entrypoint()
def main(name: str = "World", times: int = 1):
    for greeting in hello.map([name] * times):
        print(greeting)
