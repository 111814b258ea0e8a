"""A function that speaks the container protocol badly from inside its own container."""

import os

import gworker_client as gw
from gworker_client import _api

app = gw.App("protocol")


@app.function()
def bad_poll(body: dict) -> str:
    """Send ``body`` as this container's poll; return the server's error message."""
    cid = os.environ["GW_CONTAINER_ID"]
    try:
        _api.client().post(f"/v1/containers/{cid}/poll?timeout=0", body)
    except gw.exception.InvalidError as e:
        return str(e)
    return "accepted"


@app.function()
def double(x: int) -> int:
    return 2 * x
