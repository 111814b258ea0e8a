"""An app for ``gw shell`` tests: a function with an image variable, a volume and a secret."""

import gworker_client as gw

app = gw.App("shell-app")
image = gw.Image.debian_slim().env({"FROM_IMAGE": "image-env"})
volume = gw.Volume.from_name("shell-app-vol", create_if_missing=True)


@app.function(
    image=image,
    volumes={"/data": volume},
    secrets=[gw.Secret.from_dict({"SHELL_SECRET": "s3cret"})],
    scaledown_window=600,  # `gw container` tests act on its warm container
)
def work() -> str:
    print("working on it")
    with open("/tmp/worked", "w") as f:  # the container's own /tmp, seen by `gw container exec`
        f.write("yes")
    return "worked"


@app.function()
def other() -> str:
    return "other"


@app.function()
def list_running_from_inside() -> str:
    """What a container's token gets from the routes of `gw container` (a user's only)."""
    try:
        gw._api.client().get("/v1/running")
    except gw.exception.AuthError as e:
        return f"refused: {e}"
    return "allowed"


@app.function()
def exec_from_inside(cid: str) -> str:
    """What another container's token gets from the sandbox routes of an attached container."""
    try:
        gw._api.client().post(f"/v1/sandboxes/{cid}/exec", {"args": ["true"]})
    except gw.exception.AuthError as e:
        return f"refused: {e}"
    return "allowed"
