"""A function that inspects its own container's channel to the control plane."""

import os

import gworker_client as gw

app = gw.App("channel")


@app.function()
def channel_report() -> dict:
    """What this container's channel says about itself and about a forged token."""
    from gworker_client import _api, exception
    from gworker_client._runtime.channel import Channel, _parse, _Socket

    cid = os.environ["GW_CONTAINER_ID"]
    client = _api.client()
    address = client.get(f"/v1/containers/{cid}/spec")["channel"]
    report = {"address": address}
    try:
        _Socket(_parse(address), cid, "forged-token")
        report["forged"] = "accepted"
    except exception.AuthError as e:
        report["forged"] = str(e)
    # an idle poll over the channel: no outputs, no slots, answered at once
    report["poll"] = (
        Channel(client, cid, address)
        ._socket()
        .exchange({"outputs": [], "slots": 0, "timeout": 0}, 10)
    )
    # a channel that cannot be reached: the poll goes over HTTP instead
    report["fallback"] = Channel(client, cid, "127.0.0.1:1").poll([], 0, 0)
    return report
