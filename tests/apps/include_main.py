"""An app that includes another module's app: both run in one app."""

import include_lib

import gworker_client as gw

app = gw.App("include-main")
app.include(include_lib.lib)


@app.function()
def plus_triple(x: int) -> int:
    return x + include_lib.triple.remote(x)
