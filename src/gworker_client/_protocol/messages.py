"""Requests and replies of the call, container and publish routes.

The server decodes every request body into one of these at its HTTP boundary, so a handler sees
only well-typed values, and a bad body is answered with a 400 naming the field. Array-like
records travel as msgpack arrays (the rows of the warm path stay small).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from .call_graph import ParentInput
from .limits import MAX_INLINE_BYTES, MAX_INT
from .overrides import SpecOverrides
from .spec import FunctionSpec, ProbeKind, Record, VolumeMount
from .status import OutputStatus

MAX_SECONDS = 10.0**9  # any duration or wait beyond this is a mistake (NaN is refused too)

# bounded so that every value fits the store's columns (a larger one is a 400, not an overflow)
NonNegative = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]
# an argument or result inline; a larger one travels through the blob store (``_payload.py``)
Inline = Annotated[bytes, msgspec.Meta(max_length=MAX_INLINE_BYTES)]
CallId = Annotated[str, msgspec.Meta(pattern="^fc-")]
PassedObjects = Annotated[
    list[Annotated[str, msgspec.Meta(pattern="^(di|qu|vo)-[0-9a-f]{20}$")]],
    msgspec.Meta(max_length=1000),
]


class Row(msgspec.Struct, frozen=True, array_like=True):
    """Base of the records that travel as arrays."""


# -- calls -----------------------------------------------------------------------------------


class InputItem(Row, frozen=True):
    """One input of a call: its index in the call and its pickled ``(args, kwargs[, method])``."""

    idx: NonNegative
    args: Inline


class CallOutput(Row, frozen=True):
    """One output of a call: ``seq`` is the cursor to ask for outputs after."""

    seq: int
    idx: int
    status: OutputStatus
    data: bytes


class CreateCall(Record, frozen=True):
    """``POST /v1/functions/{fid}/calls``: a call with its first inputs; with ``wait``, the
    reply carries the outputs ready within that many seconds."""

    call_id: CallId
    inputs: list[InputItem] = []
    total: NonNegative | None = None
    wait: Seconds = 0.0
    # ids of named objects pickled into the inputs: a callee with restrict_modal_access=True
    # may use these (and no other Dict, Queue or Volume)
    objects: PassedObjects = []
    # the input a container was running when it made the call (FunctionCall.get_call_graph)
    parent: ParentInput | None = None


class AddInputs(Record, frozen=True):
    """``POST /v1/calls/{call_id}/inputs``: more inputs of a call (``map``)."""

    inputs: list[InputItem] = []
    total: NonNegative | None = None
    objects: PassedObjects = []


class AddInputsReply(Record, frozen=True):
    total: int | None = None


class CallOutputs(Record, frozen=True):
    """The reply of creating a call with ``wait`` and of ``GET /v1/calls/{id}/outputs``."""

    call_id: str
    outputs: list[CallOutput]
    total: int | None = None


class CancelCall(Record, frozen=True):
    """``POST /v1/calls/{call_id}/cancel``."""

    terminate_containers: bool = False


class BindClass(Record, frozen=True):
    """``POST /v1/functions/{fid}/bind``: a class bound to parameter values (msgpack
    primitives), and/or a function or class run with other options (a variant); ``key`` is the
    sha256 hex digest of the sorted values (and of the overrides, when there are some)."""

    key: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    params: dict[str, Any] = {}
    overrides: SpecOverrides = msgspec.field(default_factory=SpecOverrides)


class BindReply(Record, frozen=True):
    function_id: str


# -- containers ------------------------------------------------------------------------------


class ContainerSpec(Record, frozen=True):
    """``GET /v1/containers/{cid}/spec``: what a container needs to serve its function."""

    container_id: str
    app_id: str
    function_id: str
    tag: str
    module: str
    code_blob: str
    spec: FunctionSpec
    params: dict[str, Any] = {}  # a bound class's parameter values
    functions: dict[str, str] = {}  # the app's functions by tag, to hydrate the app
    # the function's secrets, decrypted: set before the app's module is imported
    env: dict[str, str] = {}
    mounts: tuple[VolumeMount, ...] = ()
    channel: str = ""  # host:port of the container channel (server/channel.py); "" for HTTP only


class ContainerOutput(Row, frozen=True):
    """One finished input, reported by its container with its next poll."""

    input_id: NonNegative
    status: OutputStatus
    data: Inline
    duration: Seconds


class LeasedInput(Row, frozen=True):
    """One input leased to a container, with the call it belongs to."""

    input_id: int
    args: bytes
    call_id: str = ""


class Poll(Record, frozen=True):
    """``POST /v1/containers/{cid}/poll``: outputs up, and room for ``slots`` more inputs."""

    outputs: list[ContainerOutput] = []
    slots: NonNegative = 1


class ChannelHello(Record, frozen=True):
    """The first frame on the container channel: the container's own credentials."""

    container_id: str
    token: str


class ChannelPoll(Poll, frozen=True):
    """A poll over the container channel: ``Poll`` plus how long to wait for inputs."""

    timeout: Annotated[float, msgspec.Meta(ge=0)] = 0.0


class PollReply(Record, frozen=True):
    stop: bool
    inputs: list[LeasedInput] = []


class HeartbeatReply(Record, frozen=True):
    """Whether the container should stop (the server wants it gone)."""

    stop: bool


class ContainerFailed(Record, frozen=True):
    """``POST /v1/containers/{cid}/failed``: the start-up traceback."""

    traceback: str = ""


class ProbeResult(Record, frozen=True):
    """``POST /v1/containers/{cid}/probe``: one probe call's result."""

    method: str
    kind: ProbeKind
    ok: bool
    detail: str = ""
    duration: Seconds = 0.0


# -- apps ------------------------------------------------------------------------------------


class PublishedFunction(Record, frozen=True):
    tag: Annotated[str, msgspec.Meta(min_length=1)]
    spec: FunctionSpec


class PublishApp(Record, frozen=True):
    """``POST /v1/apps/{app_id}/publish``: the app's code bundle and its functions."""

    code_blob: str
    module: Annotated[str, msgspec.Meta(min_length=1)]
    functions: list[PublishedFunction]


class PublishReply(Record, frozen=True):
    functions: dict[str, str]  # tag -> function id
    log_cursor: int
    web_urls: dict[str, str] = {}  # web endpoint (function or Class.method) -> its URL


class Empty(Record, frozen=True):
    """A body with nothing in it (``{}``)."""
