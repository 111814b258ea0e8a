"""Generator functions: items streamed from a container to the caller as they are produced.

The server knows nothing of generators. ``remote_gen`` creates an ephemeral ``Queue`` and passes
it, as a ``GeneratorStream``, first in the input's arguments. The container's runtime puts each
item there as ``("item", seq, value)`` and, when the generator ends or raises, a marker
``("end" | "error", count, None)``; the call's own output (success, or the exception) says how the
stream ended. Every item is put before the output is pushed, so once the output exists the queue
holds the rest of the stream. Items are numbered from 0 by each attempt: a retried input starts
again at 0, and the caller drops the numbers it has already yielded, so nothing is repeated.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _config, _output
from . import exception as exc
from ._queue import MAX_GET_ITEMS, Queue

if TYPE_CHECKING:
    from ._function import Function, FunctionCall

# After an end or error marker the call's output follows at once, unless the input is retried:
# wait this long for it, then go back to reading items (a retry's).
OUTPUT_AFTER_MARKER_S = 2.0


@dataclass(frozen=True)
class GeneratorStream:
    """Where a generator input's items go (the first argument of its input)."""

    queue: Queue


def is_generator_function(f: Callable[..., Any]) -> bool:
    return inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f)


def consume(fn: Function, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
    """Start ``fn`` on one input and yield the items its container streams back."""
    with Queue.ephemeral() as queue:
        call = fn._call(args, kwargs, wait=False, stream=GeneratorStream(queue))
        finished = False
        try:
            yield from _Reader(queue, call).items()
            finished = True
        finally:
            if not finished:  # the consumer stopped early: stop the producer too
                try:
                    call.cancel()
                except exc.Error:
                    pass


class _Reader:
    def __init__(self, queue: Queue, call: FunctionCall) -> None:
        self.queue = queue
        self.call = call
        self.next_seq = 0

    def _fresh(self, batch: list[Any]) -> tuple[list[Any], bool]:
        """The items of ``batch`` not yielded yet, in order; and whether a marker came."""
        items, marker = [], False
        for kind, seq, value in batch:
            if kind != "item":
                marker = True
            elif seq == self.next_seq:  # a lower number is a retried attempt's repeat
                items.append(value)
                self.next_seq += 1
        return items, marker

    def items(self) -> Iterator[Any]:
        while True:
            batch = self.queue._take_until(
                MAX_GET_ITEMS, time.monotonic() + _config.LONG_POLL_S, None
            )
            items, marker = self._fresh(batch)
            if items:
                _output.sync_logs()  # lines printed before an item come before it
            yield from items
            if batch and not marker:
                continue
            # a marker, or a long quiet spell (the container may have died): has the call ended?
            self.call._poll(OUTPUT_AFTER_MARKER_S if marker else 0)
            if self.call._done():
                yield from self._drain()
                self.call.get()  # raises the function's exception after its items
                return

    def _drain(self) -> Iterator[Any]:
        while True:
            batch = self.queue.get_many(MAX_GET_ITEMS, block=False)
            if not batch:
                return
            _output.sync_logs()
            yield from self._fresh(batch)[0]
