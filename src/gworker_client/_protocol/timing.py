"""Timings that two sides of the wire must agree on, and the limits both enforce.

Each pair sits together so that changing one side cannot silently break the other: a client's
long-poll must end before the server's cap, and a container's heartbeat must come well inside
the silence after which the server declares it dead.
"""

from __future__ import annotations

# A client's long-poll (outputs, a container's poll) asks the server to hold the request this
# long; the server caps what any request may ask for at MAX_WAIT_S.
LONG_POLL_S = 25.0
MAX_WAIT_S = 60.0
# A container with inputs sends a heartbeat every HEARTBEAT_S; one silent (no poll, no heartbeat)
# for CONTAINER_SILENCE_S is dead. The ratio leaves room for several lost heartbeats.
HEARTBEAT_S = 5.0
CONTAINER_SILENCE_S = 30.0
# An ephemeral app's client sends a heartbeat every APP_HEARTBEAT_S; the server stops an app
# whose client has been silent for EPHEMERAL_APP_SILENCE_S.
APP_HEARTBEAT_S = 10.0
EPHEMERAL_APP_SILENCE_S = 60.0

# Limits of a function spec, checked by the SDK at decoration and by the server at publish.
MAX_TIMEOUT_S = 24 * 3600
MAX_WORKERS = 10_000
MAX_RETRIES = 10
MAX_GPU_COUNT = 8
# ephemeral_disk, in MiB: Modal's largest (3 TiB)
MAX_EPHEMERAL_DISK_MIB = 3 * 1024 * 1024
