"""The container channel: a persistent, length-prefixed msgpack stream for a container's polls.

A warm call costs the server two exchanges: the caller's request and the container's poll that
brings back the output and takes the next input. Over HTTP the poll pays for a request object,
routing, middleware and a response object each time; over this channel it pays for one frame
each way. The semantics are those of ``POST /v1/containers/{cid}/poll`` (the route stays, for
clients without the channel): the container sends ``{outputs, slots, timeout}`` and receives
``{stop, inputs}``, or ``{error: {type, message}}``.

A frame is a 4-byte big-endian length and a msgpack map. The first frame a connection sends
is ``{container_id, token}``: the container's own credentials, checked like the HTTP routes'.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import struct
from typing import Any

import msgpack

from .containers import MAX_POLL_S, wire
from .errors import ApiError, InvalidRequest, Unauthorized
from .scheduler import Scheduler

log = logging.getLogger("gworker.server")
HEADER = struct.Struct(">I")
# Frames carry inputs and outputs inline, as HTTP bodies do.
MAX_FRAME_BYTES = 512 * 1024 * 1024


def frame(value: Any) -> bytes:
    body = msgpack.packb(value, use_bin_type=True)
    return HEADER.pack(len(body)) + body


async def _read(reader: asyncio.StreamReader) -> Any:
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if size > MAX_FRAME_BYTES:
        raise ValueError(f"a channel frame of {size} bytes is over {MAX_FRAME_BYTES}")
    return msgpack.unpackb(await reader.readexactly(size), raw=False)


class ContainerChannel:
    """Accepts container connections and answers their polls from the scheduler."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.server: asyncio.AbstractServer | None = None
        self.address = ""
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str) -> None:
        self.server = await asyncio.start_server(self._serve, host, 0)
        port = self.server.sockets[0].getsockname()[1]
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            # open connections end too (a long poll would otherwise hold wait_closed)
            for writer in list(self.writers):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    def _who(self, hello: Any) -> str:
        cid = hello.get("container_id") if isinstance(hello, dict) else None
        token = hello.get("token") if isinstance(hello, dict) else None
        if not isinstance(cid, str) or not isinstance(token, str):
            raise Unauthorized("the channel's first frame must be {container_id, token}")
        known = self.scheduler.container_by_token(token)
        if known is None or not hmac.compare_digest(known, cid):
            raise Unauthorized(f"the token presented for container {cid!r} is not valid")
        return cid

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            try:
                cid = self._who(await _read(reader))
            except ApiError as e:
                writer.write(frame({"error": {"type": e.sdk_type, "message": str(e)}}))
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

    async def _poll(self, cid: str, req: Any) -> dict[str, Any]:
        try:
            try:
                slots, timeout = int(req.get("slots", 1)), float(req.get("timeout", 0))
            except (AttributeError, TypeError, ValueError):
                raise InvalidRequest(
                    f"a poll frame must be a map with slots and timeout: {req!r:.200}"
                ) from None
            lease = await self.scheduler.poll(
                cid, req.get("outputs") or [], slots, max(0.0, min(timeout, MAX_POLL_S))
            )
        except ApiError as e:
            return {"error": {"type": e.sdk_type, "message": str(e)}}
        if lease is None:
            return {"stop": True, "inputs": []}
        return {"stop": False, "inputs": wire(lease)}
