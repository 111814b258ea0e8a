"""Every server-side key and default in one place."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

# Timings paired with the SDK's (a container's heartbeat, an app client's heartbeat) live in the
# wire protocol, next to their other half.
from gworker_client._protocol import CONTAINER_SILENCE_S as CONTAINER_SILENCE_S
from gworker_client._protocol import EPHEMERAL_APP_SILENCE_S as EPHEMERAL_APP_SILENCE_S
from gworker_client._protocol import limits as _limits

API_PREFIX = "/v1"


def nfs_dir(home: Path, nfs_id: str) -> Path:
    """The host directory of a network file system: what the server's file routes read and
    write, and what the backend binds into every container that mounts it."""
    return home / "nfs" / nfs_id


# The control plane's unix sockets, in ``control_sockets(home)``: the API's and the container
# channel's. A container with ``block_network=True`` has no network to reach the control plane's
# TCP port; the backend binds this directory into it instead (backends/launch.py).
API_SOCKET = "api.sock"
CHANNEL_SOCKET = "channel.sock"
_SOCKET_PATH_MAX = 100  # a unix socket's path must fit sockaddr_un (108 bytes with the NUL)


def control_sockets(home: Path) -> Path:
    """The directory of the control plane's unix sockets, made (0700, root's) if missing:
    ``home/sockets``, or where that path is too long for a socket address, a directory in
    the system's temporary directory named after ``home``."""
    where = home / "sockets"
    if len(str(where / CHANNEL_SOCKET)) > _SOCKET_PATH_MAX:
        digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
        where = Path(tempfile.gettempdir()) / f"gworker-sockets-{digest}"
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    if where.stat().st_uid != os.geteuid():  # someone else's directory: not ours to listen in
        raise PermissionError(f"{where} belongs to another user; remove it")
    return where


# Sizes and counts the API enforces (request bodies, inline values, code bundles, pending inputs)
# are the protocol's: gworker_client/_protocol/limits.py. A server may lower or raise this one.
MAX_PENDING_INPUTS = int(os.environ.get("GW_MAX_PENDING_INPUTS", _limits.MAX_PENDING_INPUTS))
# Extra time past an input's timeout before the server kills a container that did not stop it.
TIMEOUT_GRACE_S = 5.0
# How long a container is given to exit after SIGTERM before SIGKILL.
STOP_GRACE_S = 10.0
# A lease handed to a container holds about this much work (by the function's mean run time).
LEASE_TARGET_S = 0.05
LEASE_MAX_INPUTS = 256
# Writes that acknowledge nothing (outputs, container states, logs) are committed together
# this long after the first of them; a kill loses at most this much, and loses nothing
# acknowledged: an input whose output was lost runs again.
COMMIT_DELAY_S = 0.02
# The control loop's period: idle scale-down, silent containers, backstop timeouts.
TICK_S = 0.5
# How often a server with no backlog hands freed memory back to the system (server/memory.py).
TRIM_EVERY_S = 30.0
# How many times a container that fails at start-up is replaced before its inputs fail.
MAX_START_FAILURES = 3
# How many times an input is rerun after its container is replaced for failing liveness probes.
MAX_REPLACEMENTS = 3
LOG_LINE_MAX_BYTES = 64 * 1024
# Processes and threads one container may have at once (cgroup pids.max): a fork bomb stops here
# instead of exhausting the machine's pid space.
CONTAINER_MAX_TASKS = 4096
# Web requests a web endpoint's container takes at once unless @gw.concurrent says otherwise.
WEB_DEFAULT_MAX_INPUTS = 100
# How long the gateway waits for a web endpoint's response headers (container start included).
WEB_TIMEOUT_S = 150.0
# Idle sandboxes kept started per recently used launch (image, limits, network), so that
# Sandbox.create answers at once; 0 turns the warm pool off.
SANDBOX_WARM = int(os.environ.get("GW_SANDBOX_WARM", "2"))
# The container channel's port (0: any free one). Fix it when a firewall sits between the Ray
# nodes and the control plane; without the channel containers poll over HTTP, slower.
CHANNEL_PORT = int(os.environ.get("GW_CHANNEL_PORT", "0"))
# GW_GPU_FALLBACK=cpu: a function asking for a GPU this machine cannot give runs without one (and
# its app's log says so), for developing GPU apps on a machine without that GPU. Off by default:
# such a function then fails at once, naming the GPUs that exist.
GPU_FALLBACKS = ("", "cpu")

# Usage metering: one timer samples every running container this often; per-second samples older
# than USAGE_ROLLUP_AFTER_S are rolled into per-minute rows, checked every USAGE_COMPACT_EVERY_S.
USAGE_SAMPLE_S = 1.0
USAGE_ROLLUP_AFTER_S = 86400.0
USAGE_COMPACT_EVERY_S = 600.0

# Large arguments and results in the blob store (server/payloads.py): a result's blob is kept
# until a caller is handed it, or OUTPUT_KEEP_S (as long as Modal keeps results: 7 days); a
# payload blob nothing refers to any more is deleted BLOB_GRACE_S after it was last touched; the
# sweep runs every BLOB_SWEEP_S.
OUTPUT_KEEP_S = float(os.environ.get("GW_OUTPUT_KEEP_S", 7 * 86400))
BLOB_GRACE_S = float(os.environ.get("GW_BLOB_GRACE_S", 3600))
BLOB_SWEEP_S = float(os.environ.get("GW_BLOB_SWEEP_S", 60))

# Finished work leaves the store (server/retention.py): a finished call OUTPUT_KEEP_S after its
# last output; log lines and probe results LOG_KEEP_S after they were written, and past an app's
# newest LOG_MAX_LINES lines; rows of stopped containers, ended sandboxes and past schedule runs
# LOG_KEEP_S after they ended. The sweep starts every RETENTION_SWEEP_S.
LOG_KEEP_S = float(os.environ.get("GW_LOG_KEEP_S", 30 * 86400))
LOG_MAX_LINES = int(os.environ.get("GW_LOG_MAX_LINES", 100_000))
RETENTION_SWEEP_S = float(os.environ.get("GW_RETENTION_SWEEP_S", 60))
