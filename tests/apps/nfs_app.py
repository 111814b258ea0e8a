"""Functions sharing a network file system mounted at /shared: what one container writes,
another (and the local client) reads at once, with no commit."""

from __future__ import annotations

import os
import time

import gworker_client as gw

NFS = "nfs-test"
nfs = gw.NetworkFileSystem.from_name(NFS, create_if_missing=True)

app = gw.App("nfs-app")


@app.function(network_file_systems={"/shared": nfs})
def write(name: str, text: str) -> int:
    os.makedirs(os.path.dirname(f"/shared/{name}") or "/shared", exist_ok=True)
    with open(f"/shared/{name}", "w") as f:
        return f.write(text)


@app.function(network_file_systems={"/shared": nfs})
def read(name: str) -> str:
    with open(f"/shared/{name}") as f:
        return f.read()


@app.function(network_file_systems={"/shared": nfs}, timeout=120)
def wait_for(name: str) -> str:
    """Runs until someone else writes ``name``: a container sees others' writes while it runs."""
    while not os.path.exists(f"/shared/{name}"):
        time.sleep(0.05)
    with open(f"/shared/{name}") as f:
        return f.read()
