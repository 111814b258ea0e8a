"""Sandboxes on the wire: the SDK's requests to ``/v1/sandboxes`` and the frames the control
plane exchanges with a sandbox's agent over its stdin and stdout.

The agent (``gworker_client/_runtime/sandbox_agent.py``) runs with the standard library only, so
it declares the frame kinds again; ``tests/unit/test_sandbox_frames.py`` checks both agree.
"""

from __future__ import annotations

import struct
from typing import Annotated, Literal

import msgspec

from .spec import GpuRequest, Record, VolumeMount

# -- frames: a 9-byte header (kind u8, process u32, length u32, big-endian), then the payload ---
FRAME_HEADER = struct.Struct(">BII")
EXIT_CODE = struct.Struct(">i")  # the payload of FRAME_EXIT
# control plane -> agent
FRAME_EXEC = 1  # marshal'd {"args", "cwd", "env", "timeout"}: start a process
FRAME_STDIN = 2  # bytes for the process's stdin
FRAME_STDIN_EOF = 3  # close the process's stdin
FRAME_FS = 4  # marshal'd {"op", ...}: a file operation or probe; the process field is its number
FRAME_RESIZE = 9  # rows, columns (WINSIZE) of a process's pseudo-terminal
WINSIZE = struct.Struct(">HH")
# agent -> control plane
FRAME_STDOUT = 5
FRAME_STDERR = 6
FRAME_EXIT = 7  # the exit code (EXIT_CODE)
FRAME_FS_REPLY = 8  # a status byte (0, or the errno) and bytes: the answer to a FRAME_FS
FRAME_READY = 10  # the agent runs (its isolation was set up): the first frame it sends
MAIN_PROCESS = 0  # the sandbox's main command; its exit ends the sandbox

# -- exit codes as a shell reports them ---------------------------------------------------------
EXIT_TIMEOUT = 124  # the sandbox or the command outlived its timeout
EXIT_TERMINATED = 137  # killed (SIGKILL): terminate(), or the control plane went away

MAX_SANDBOX_TIMEOUT_S = 24 * 3600
# Options of Modal's Sandbox.create this version does not offer yet, refused by name, each
# with what to do instead.
UNSUPPORTED_OPTIONS = {
    "h2_ports": "HTTP/2 ports are not served yet; encrypted_ports serve HTTP/1.1 and WebSocket",
    "network_file_systems": "sandboxes mount Volumes only (volumes=)",
    "cloud": "sandboxes run on this control plane's own machines",
    "region": "sandboxes run on this control plane's own machines",
    "proxy": (
        "sandboxes get outbound network by default; block_network=True cuts it off and"
        " cidr_allowlist limits it"
    ),
    "pty": "a terminal is per command: sb.exec(..., pty=True)",
    "outbound_policy": (
        "injecting secrets into outbound HTTPS needs a TLS-intercepting egress proxy, which"
        " gworker does not run; make the authenticated call from a function holding the secret"
        " (secrets=[...]), or pass the secret to the sandbox (Sandbox.create(secrets=[...]))"
    ),
}

Positive = Annotated[float, msgspec.Meta(gt=0)]
Timeout = Annotated[int, msgspec.Meta(gt=0, le=MAX_SANDBOX_TIMEOUT_S)]
MemoryMib = Annotated[int, msgspec.Meta(ge=16)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
SandboxName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,63}$")]


class NamedSecret(Record, frozen=True):
    """A named secret (``Secret.from_name``) whose values go into the sandbox's environment."""

    name: str
    environment: str = "main"


class SandboxProbe(Record, frozen=True):
    """A readiness probe: a TCP port that must accept, or a command that must exit 0."""

    tcp_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    exec_argv: list[str] | None = None
    interval_ms: Annotated[int, msgspec.Meta(ge=10, le=60_000)] = 100


class CreateSandbox(Record, frozen=True):
    """``POST /v1/sandboxes``: start one. ``sandbox_id`` is chosen by the client, so a retried
    request starts it once; ``image`` is a spec already built for ``app_id``."""

    sandbox_id: Annotated[str, msgspec.Meta(pattern=r"^sb-[A-Za-z0-9]{8,40}$")]
    app_id: str
    image: dict[str, object]
    args: list[str] = []
    timeout: Timeout = 300
    workdir: str | None = None
    cpu: Positive | None = None
    memory_mib: MemoryMib | None = None
    env: dict[str, str] = {}
    secrets: list[NamedSecret] = []
    inline_env: dict[str, str] = {}  # values of the caller's from_dict/dotenv secrets
    name: SandboxName | None = None
    block_network: bool = False
    idle_timeout: Timeout | None = None  # ends it after this long with no exec/stdin/file use
    readiness_probe: SandboxProbe | None = None
    volumes: list[VolumeMount] = []  # filled before it starts, committed when it ends
    encrypted_ports: list[Port] = []  # served through the gateway, by URL
    unencrypted_ports: list[Port] = []  # also as raw TCP on the server's address
    cidr_allowlist: Annotated[list[str], msgspec.Meta(max_length=256)] | None = None
    gpu: list[GpuRequest] | None = None  # alternatives in preference order


TermSize = Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class ExecCommand(Record, frozen=True):
    """``POST /v1/sandboxes/{id}/exec``: run one more command in a running sandbox; with
    ``pty`` (rows, columns) on a pseudo-terminal, its output all on stdout."""

    args: Annotated[list[str], msgspec.Meta(min_length=1)]
    workdir: str | None = None
    env: dict[str, str] = {}
    timeout: Positive | None = None
    pty: tuple[TermSize, TermSize] | None = None


class Resize(Record, frozen=True):
    """``POST /v1/sandboxes/{id}/processes/{pid}/resize``: its terminal's new size."""

    rows: TermSize
    cols: TermSize


class StdinWrite(Record, frozen=True):
    """``POST /v1/sandboxes/{id}/processes/{pid}/stdin``: bytes, then optionally end of input."""

    data: bytes = b""
    eof: bool = False


class SnapshotFilesystem(Record, frozen=True):
    """``POST /v1/sandboxes/{id}/snapshot_filesystem``: its filesystem as an image, given up
    after ``timeout`` seconds."""

    timeout: Annotated[float, msgspec.Meta(gt=0, le=MAX_SANDBOX_TIMEOUT_S)] = 55.0


class SnapshotImage(Record, frozen=True):
    """The reply: the image's id (``im-`` + its key in the image store) and its Python."""

    image_id: str
    python_version: str  # exact: "3.11.2"


class SandboxInfo(Record, frozen=True):
    """What the control plane says about a sandbox."""

    sandbox_id: str
    app_id: str
    name: str | None
    state: str  # running | finished | terminated | timeout | failed
    returncode: int | None
    info: str  # why it ended, in words ("" while running)
    created_at: float
    image: str  # a short description of its image


FileOp = Literal["open", "read", "readline", "write", "flush", "seek", "close", "ls", "mkdir", "rm"]
PATH_OPS = ("open", "ls", "mkdir", "rm")  # the rest act on an open handle
FILE_MODE = r"^(?=[^rwax]*[rwax][^rwax]*$)(?!.*(.).*\1)[rwaxb+]{1,3}$"
MAX_FILE_CHUNK = 512 * 1024  # bytes per read reply or write request (one frame each)


class FileRequest(Record, frozen=True):
    """``POST /v1/sandboxes/{id}/files``: one file operation, done inside the sandbox by its
    agent as the sandbox's user. Answered with ``FileReply``."""

    op: FileOp
    path: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)] | None = None
    mode: Annotated[str, msgspec.Meta(pattern=FILE_MODE)] | None = None
    handle: Annotated[int, msgspec.Meta(ge=1)] | None = None
    n: int | None = None
    data: Annotated[bytes, msgspec.Meta(max_length=MAX_FILE_CHUNK)] = b""
    offset: int = 0
    whence: Literal[0, 1, 2] = 0
    parents: bool = False
    recursive: bool = False


class FileReply(Record, frozen=True):
    """The agent's answer: ``errno`` 0 and ``data``, or the errno and its message."""

    errno: int
    message: str = ""
    data: bytes = b""


class TunnelInfo(Record, frozen=True):
    """A declared port of a sandbox as the caller reaches it: ``path`` on the control plane's
    address (the gateway), and for an unencrypted port a raw TCP ``tcp_port`` there too."""

    port: int
    path: str  # "/web/<label>"
    label: str
    tcp_port: int | None = None
