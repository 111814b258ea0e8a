"""Functions that try, with their own container's token, what only a user's token may do."""

import gworker_client as gw

app = gw.App("inside-app")


@app.function()
def manage_environments(name: str) -> list[str]:
    """Create, rename and delete an environment: each answer, or why it was refused."""
    client, out = gw._api.client(), []
    for path, body in [
        ("/v1/environments", {"name": name}),
        ("/v1/environments/main/update", {"web_suffix": "taken"}),
        ("/v1/environments/main/delete", {}),
    ]:
        try:
            client.post(path, body)
            out.append("allowed")
        except gw.exception.AuthError as e:
            out.append(f"refused: {e}")
    return out
