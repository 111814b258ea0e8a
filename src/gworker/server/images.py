"""Image builds, shared by everyone who asks for the same image while it builds.

``POST /v1/images/build`` starts the build of an image spec (or finds it cached) and long-polls
its log: the caller gets the lines after its cursor and the build's status, and asks again until
the image is ready or failed. Lines also go to the app's log, so `gw app logs` shows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gworker_client._protocol import MAX_WAIT_S
from gworker_client._protocol.limits import MAX_INT

from ..images import BuildError, ImageBuilder
from .draining import DRAINING
from .errors import InvalidRequest
from .fields import number
from .http import body, reply
from .state import State

routes = web.RouteTableDef()


@dataclass
class Build:
    lines: list[str] = field(default_factory=list)
    done: bool = False
    error: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.changed.set()


class ImageBuilds:
    def __init__(self, builder: ImageBuilder) -> None:
        self.builder = builder
        self.builds: dict[str, Build] = {}

    def start(self, spec: dict[str, Any], on_line: Any, following: bool) -> Build:
        """The build of ``spec``: the running one, or a new one. A caller that is not yet
        following a build gets a finished one without its log (the image is simply ready)."""
        key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        build = self.builds.get(key)
        if build is not None and build.error is None and (following or not build.done):
            return build
        build = self.builds[key] = Build()
        loop = asyncio.get_running_loop()

        def log(line: str) -> None:  # runs on the build thread
            loop.call_soon_threadsafe(_emit, build, on_line, line)

        async def run() -> None:
            try:
                await loop.run_in_executor(None, self.builder.build, spec, log)
            except BuildError as e:
                build.error = str(e)
            except Exception as e:  # a builder bug: the caller still gets an answer
                build.error = f"image build failed: {e!r}"
            finally:
                build.done = True
                build.changed.set()

        # a cached image comes back at once and without a log; either way off the event loop
        loop.create_task(run())
        return build


def _emit(build: Build, on_line: Any, line: str) -> None:
    build.add(line)
    on_line(line)


async def _follow(build: Build, after: int, timeout: float) -> None:
    if len(build.lines) > after or build.done:
        return
    build.changed.clear()
    with contextlib.suppress(asyncio.TimeoutError):
        await DRAINING.wait_for(build.changed.wait(), timeout)


@routes.post("/v1/images/build")
async def build_image(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    builds: ImageBuilds = request.app["image_builds"]
    req = await body(request)
    spec, app_id = req.get("spec"), req.get("app_id")
    if not isinstance(spec, dict) or not isinstance(app_id, str):
        raise InvalidRequest("an image build needs spec (a map) and app_id")
    after = int(number(req, "after", 0, MAX_INT, 0))
    timeout = number(req, "timeout", 0, MAX_WAIT_S, 0)
    # a client following its app's builds is alive: a slow build must not stop an ephemeral app
    state.scheduler.app_heartbeat(app_id)
    build = builds.start(
        spec, lambda line: state.scheduler.app_log(app_id, "stderr", line + "\n"), after > 0
    )
    await _follow(build, after, timeout)
    status = "failed" if build.error else ("ready" if build.done else "building")
    return reply(
        {
            "lines": build.lines[after:],
            "cursor": len(build.lines),
            "status": status,
            "error": build.error,
        }
    )
