"""The container channel: a persistent, length-prefixed msgpack stream for a container's polls.

A warm call costs the server two exchanges: the caller's request and the container's poll that
brings back the output and takes the next input. Over HTTP the poll pays for a request object,
routing, middleware and a response object each time; over this channel it pays for one frame
each way. The semantics are those of ``POST /v1/containers/{cid}/poll`` (the route stays, for
clients without the channel): the container sends ``{outputs, slots, timeout}`` and receives
``{stop, inputs}``, or ``{error: {type, message}}``; frames are the protocol's records
(``ChannelHello``, ``ChannelPoll``, ``PollReply``), validated like the HTTP routes' bodies.

A frame is a 4-byte big-endian length and a msgpack map. The first frame a connection sends
is ``ChannelHello``: the container's own credentials, checked like the HTTP routes'.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import struct
from typing import Any

import msgspec

from gworker_client._protocol import (
    MAX_WAIT_S,
    ChannelHello,
    ChannelPoll,
    LeasedInput,
    PollReply,
    from_wire,
    to_wire,
)
from gworker_client._protocol.limits import MAX_REQUEST_BYTES
from gworker_client._protocol.wire import field_path

from .errors import ApiError, InvalidRequest, Unauthorized
from .scheduler import Scheduler

log = logging.getLogger("gworker.server")
HEADER = struct.Struct(">I")
# Frames carry inputs and outputs inline, as HTTP bodies do.
MAX_FRAME_BYTES = MAX_REQUEST_BYTES


def frame(value: Any) -> bytes:
    body = to_wire(value)
    return HEADER.pack(len(body)) + body


def _error(e: ApiError) -> dict[str, Any]:
    return {"error": {"type": e.sdk_type, "message": str(e)}}


async def _read(reader: asyncio.StreamReader) -> bytes:
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if size > MAX_FRAME_BYTES:
        raise ValueError(f"a channel frame of {size} bytes is over {MAX_FRAME_BYTES}")
    return await reader.readexactly(size)


class ContainerChannel:
    """Accepts container connections and answers their polls from the scheduler."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.server: asyncio.AbstractServer | None = None
        self.unix_server: asyncio.AbstractServer | None = None
        self.address = ""
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, advertised: str | None = None, port: int = 0) -> None:
        """Listen on ``host`` (``port`` 0: any); containers are told ``advertised`` (the host
        in the control plane's URL) when it differs, as for a server bound to 0.0.0.0."""
        self.server = await asyncio.start_server(self._serve, host, port)
        port = self.server.sockets[0].getsockname()[1]
        name = (advertised or host).strip("[]")
        self.address = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"

    async def start_unix(self, path: str) -> None:
        """Also listen on the unix socket ``path``: containers without a network connect
        there (the backend binds its directory into them)."""
        self.unix_server = await asyncio.start_unix_server(self._serve, path)

    async def close(self) -> None:
        if self.unix_server is not None:
            self.unix_server.close()
        if self.server is not None:
            self.server.close()
            # open connections end too (a long poll would otherwise hold wait_closed)
            for writer in list(self.writers):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    def _who(self, raw: bytes) -> str:
        try:
            hello = from_wire(raw, ChannelHello)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise Unauthorized("the channel's first frame must be {container_id, token}") from None
        known = self.scheduler.container_by_token(hello.token)
        if known is None or not hmac.compare_digest(known, hello.container_id):
            raise Unauthorized(
                f"the token presented for container {hello.container_id!r} is not valid"
            )
        return hello.container_id

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            try:
                cid = self._who(await _read(reader))
            except ApiError as e:
                writer.write(frame(_error(e)))
                await writer.drain()
                return
            writer.write(frame({"ok": True}))
            while True:
                req = await _read(reader)
                writer.write(frame(await self._poll(cid, req)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the container went away; a lease it never received is rerun on its next poll
        except Exception:
            log.exception("container channel failed")
        finally:
            self.writers.discard(writer)
            writer.close()

    async def _poll(self, cid: str, raw: bytes) -> Any:
        try:
            try:
                req = from_wire(raw, ChannelPoll)
            except msgspec.ValidationError as e:
                path = field_path(ChannelPoll, str(e).rpartition(" at ")[2])
                raise InvalidRequest(f"a poll frame is not valid: {e} ({path})") from None
            except msgspec.DecodeError as e:
                raise InvalidRequest(f"a poll frame is not msgpack: {e}") from None
            timeout = min(req.timeout, MAX_WAIT_S)
            lease = await self.scheduler.poll(cid, req.outputs, req.slots, timeout)
        except ApiError as e:
            return _error(e)
        if lease is None:
            return PollReply(stop=True)
        return PollReply(stop=False, inputs=[LeasedInput(i.id, i.args, i.call_id) for i in lease])
