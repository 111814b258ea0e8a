"""``Sandbox.snapshot_filesystem``: a running sandbox's filesystem, recorded as an image in the
image store (``images/snapshot.py`` does the copy), within the caller's timeout.

The copy runs on a worker thread; at the timeout it is told to stop, and it removes what it
made, so a timed-out snapshot leaves nothing behind. Processes in the sandbox keep running.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading

from ...images import BuildError, ImageRecord, LayerStore
from ...images.snapshot import capture, config_of
from ..errors import InvalidRequest, TimedOut
from .sandbox_state import Sandbox

log = logging.getLogger("gworker.sandboxes")


async def snapshot(sb: Sandbox, store: LayerStore, timeout: float) -> ImageRecord:
    """Snapshot running sandbox ``sb`` into ``store``; raises InvalidRequest if it is not
    running, TimedOut after ``timeout`` seconds."""
    process = sb.process
    upper = process.upper() if process is not None and sb.state == "running" else None
    if process is None or process.root is None or upper is None:
        raise InvalidRequest(
            f"sandbox {sb.id} is not running ({sb.state}: {sb.info or 'ending'}): only a running"
            " sandbox's filesystem can be snapshotted"
        )
    if sb.watch:
        sb.watch.touch()
    image = process.root.image
    base = ImageRecord(image.key, image.layers, config_of(image))
    cancelled = threading.Event()
    job = asyncio.get_running_loop().run_in_executor(
        None,
        functools.partial(
            capture,
            store,
            upper,
            base,
            excluded=process.root.mounted,
            files=dict(image.files),
            source=f"snapshot of {sb.id}",
            cancelled=cancelled,
            alive=lambda: process.upper() is not None,
        ),
    )
    job.add_done_callback(_consume)
    try:
        return await asyncio.wait_for(asyncio.shield(job), timeout)
    except asyncio.TimeoutError:
        cancelled.set()
        raise TimedOut(
            f"the filesystem snapshot of sandbox {sb.id} did not finish within {timeout:g} s and"
            " was given up (nothing was kept): pass a larger timeout="
        ) from None
    except (OSError, BuildError) as e:
        if process.upper() is None:  # nothing was kept: what it left may be partial
            raise InvalidRequest(
                f"sandbox {sb.id} ended during its snapshot ({e}): nothing was kept"
            ) from None
        log.exception("the snapshot of sandbox %s failed", sb.id)
        raise InvalidRequest(f"the filesystem snapshot of sandbox {sb.id} failed: {e}") from None


def _consume(job: asyncio.Future[ImageRecord]) -> None:
    """A snapshot given up at its timeout may still fail after: nobody waits for it then."""
    if not job.cancelled():
        job.exception()
