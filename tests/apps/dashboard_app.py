"""An app the dashboard's browser tests watch: a call that logs and a call that fails."""

import gworker_client as gw

app = gw.App("dashboard-e2e")


@app.function()
def greet(name: str) -> str:
    print(f"hello from the dashboard app, {name}")
    return f"Hello, {name}!"


@app.function()
def explode() -> None:
    raise ValueError("the dashboard shows this traceback")
