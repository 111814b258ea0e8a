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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gworker_client._protocol import MAX_WAIT_S
from gworker_client._protocol.limits import MAX_INT

from ..images import BuildError, ImageBuilder, gc, transfer
from .draining import DRAINING
from .errors import InvalidRequest, NotFound
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
    def __init__(self, builder: ImageBuilder, in_use: Callable[[], set[str]]) -> None:
        self.builder = builder
        self.builds: dict[str, Build] = {}
        self.in_use = in_use  # image keys of running containers: never collected

    def collect(self, cap: int) -> gc.Collected:
        """Unused layers out, then least recently used images while over ``cap`` bytes."""
        return gc.collect(self.builder.store, cap, self.in_use())

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
                if build.lines:  # something was built: keep the store under its cap
                    await loop.run_in_executor(None, self.collect, gc.cap_bytes())
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


@routes.post("/v1/images/export")
async def export_image(request: web.Request) -> web.Response:
    """Build (or find) an image and put its layer archives and manifest in the blob store, for
    another machine to fetch (``images/transfer.py``). Replies with the manifest's blob digest."""
    state: State = request.app["state"]
    builds: ImageBuilds = request.app["image_builds"]
    spec = (await body(request)).get("spec")
    if not isinstance(spec, dict):
        raise InvalidRequest("an image export needs spec (a map)")
    builder = builds.builder

    def run() -> tuple[str, transfer.Manifest]:
        image = builder.build(spec)
        manifest = transfer.export(
            builder.store, image.key, transfer.blob_dir_put(state.blobs.root)
        )
        text = manifest.to_json().encode()
        digest = hashlib.sha256(text).hexdigest()
        state.blobs.put(digest, text)
        return digest, manifest

    try:
        digest, manifest = await asyncio.get_running_loop().run_in_executor(None, run)
    except BuildError as e:
        raise InvalidRequest(str(e)) from None
    return reply({"manifest": digest, "layers": [ref.blob for ref in manifest.layers]})


@routes.get("/v1/images")
async def list_images(request: web.Request) -> web.Response:
    builds: ImageBuilds = request.app["image_builds"]
    store = builds.builder.store
    in_use = builds.in_use()

    def rows() -> list[dict[str, Any]]:
        sizes = {d: store.layer_size(d) for d in store.layers()}
        out = []
        for record in store.images():
            path = store.root / "images" / f"{record.key}.json"
            out.append(
                {
                    "key": record.key,
                    "python": record.config.python_version,
                    "layers": len(record.layers),
                    "size": sum(sizes.get(d, 0) for d in record.layers),
                    "used": path.stat().st_mtime,
                    "in_use": record.key in in_use,
                    "origin": record.origin or "built",
                }
            )
        return out

    return reply({"images": await asyncio.to_thread(rows)})


@routes.get("/v1/images/{image_id}")
async def image_by_id(request: web.Request) -> web.Response:
    """A filesystem snapshot by its id (``im-`` + key), for ``Image.from_id``: the only images
    with ids, since a built image is found again by its spec."""
    builds: ImageBuilds = request.app["image_builds"]
    image_id = request.match_info["image_id"]
    key = image_id.removeprefix("im-")
    if not image_id.startswith("im-") or len(key) != 64 or key.strip("0123456789abcdef"):
        raise InvalidRequest(f"{image_id!r} is not an image id (im- and 64 hex digits)")
    record = await asyncio.to_thread(builds.builder.store.image, key)
    if record is None or record.origin != "snapshot":
        raise NotFound(
            f"no image {image_id} on this server (ids name filesystem snapshots, from"
            " Sandbox.snapshot_filesystem(); `gw image list` shows them)"
        )
    return reply({"image_id": image_id, "python_version": record.config.python_version})


@routes.post("/v1/images/{key}/delete")
async def delete_image(request: web.Request) -> web.Response:
    builds: ImageBuilds = request.app["image_builds"]
    store = builds.builder.store
    prefix = request.match_info["key"]
    matches = [r.key for r in store.images() if r.key.startswith(prefix)]
    if len(prefix) < 6 or len(matches) != 1:
        found = "no image" if not matches else f"{len(matches)} images"
        raise InvalidRequest(f"{prefix!r} names {found}: give at least 6 characters of one key")
    if matches[0] in builds.in_use():
        raise InvalidRequest(f"image {prefix} is in use by running containers")
    store.remove_image(matches[0])
    collected = await asyncio.to_thread(builds.collect, gc.cap_bytes())
    return reply({"removed": matches[0], "layers": len(collected.layers), "freed": collected.freed})


@routes.post("/v1/images/prune")
async def prune_images(request: web.Request) -> web.Response:
    builds: ImageBuilds = request.app["image_builds"]
    req = await body(request)
    cap = req.get("max_bytes")
    if cap is not None and (not isinstance(cap, int) or cap < 0):
        raise InvalidRequest(f"max_bytes={cap!r}: expected a number of bytes, 0 or more")
    collected = await asyncio.to_thread(builds.collect, gc.cap_bytes() if cap is None else cap)
    return reply(
        {
            "images": len(collected.images),
            "layers": len(collected.layers),
            "freed": collected.freed,
            "remaining": collected.remaining,
        }
    )
