"""The volume keeper of a sandbox: fills its volumes' directories before the sandbox starts and
commits what the sandbox changed in them once it has ended.

A sandbox holds no token and has no path to the control plane, so it cannot sync volumes itself
as a function's runtime does. The backend runs this module beside it instead, as a container of
its own (the same image, the same volume directories bound at the same paths, the control
plane's loopback reachable, a token that lives as long as the sandbox) that the sandbox cannot
see or signal. Protocol, over its stdin and stdout: it prints ``ready`` once every volume is
filled, then waits; at the end of its stdin it commits every mount and prints ``committed`` (or
the error) before exiting. The volumes are described in ``GW_SANDBOX_VOLUMES`` (JSON list of
``{"mount_path", "volume_id", "name"}``) and their directories in ``GW_MOUNTS``, as for a
function's container.
"""

from __future__ import annotations

import json
import os
import sys

from .. import _api
from .._protocol import VolumeMount
from . import volumes


def main() -> int:
    mounts = [VolumeMount(**m) for m in json.loads(os.environ["GW_SANDBOX_VOLUMES"])]
    try:
        volumes.setup(_api.client(), mounts)
    except Exception as e:
        print(f"error: filling the volumes failed: {e}", flush=True)
        return 1
    print("ready", flush=True)
    sys.stdin.read()  # the sandbox runs until the backend closes this
    failed = []
    for mount in volumes._mounts.values():
        try:
            mount.commit()
        except Exception as e:
            failed.append(f"{mount.path}: {e}")
    print("committed" if not failed else "error: " + "; ".join(failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
