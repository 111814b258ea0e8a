"""Two Apps in one file, as Modal's examples have (a web app next to a sandbox app): `gw run`
picks one by the variable that holds it, `FILE::VARIABLE[.NAME]`, as `modal run` does."""

import modal

app = modal.App("modal-examples-first")
web_app = modal.App("modal-examples-second")


@app.function()
def first() -> str:
    return "from the first app"


@web_app.function()
def second() -> str:
    return "from the second app"


@web_app.local_entrypoint()
def main() -> None:
    print("entrypoint says", second.remote())
