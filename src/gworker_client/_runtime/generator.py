"""A generator function's input in a container: each item goes to the caller's stream queue.

See ``gworker_client._generator`` for the caller's side and the item format.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

from .._generator import GeneratorStream, is_generator_function
from ..exception import InvalidError


def streaming(fn: Callable[..., Any], is_async: bool) -> tuple[Callable[..., Any], bool]:
    """What the container calls for ``fn``, and whether it is a coroutine function: a generator
    function is wrapped so that its items are streamed and its count is the result."""
    if not is_generator_function(fn):
        return fn, is_async
    if inspect.isasyncgenfunction(fn):
        return functools.partial(_stream_async, fn), True
    return functools.partial(_stream, fn), False


def _split(
    fn: Callable[..., Any], args: tuple[Any, ...]
) -> tuple[GeneratorStream, tuple[Any, ...]]:
    if not args or not isinstance(args[0], GeneratorStream):
        name = getattr(fn, "__qualname__", fn)
        raise InvalidError(f"{name} is a generator function: call it with .remote_gen(...)")
    return args[0], args[1:]


def _stream(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    stream, args = _split(fn, args)
    seq = 0
    try:
        for item in fn(*args, **kwargs):
            stream.queue.put(("item", seq, item))
            seq += 1
    except BaseException:
        _mark(stream, "error", seq)
        raise
    _mark(stream, "end", seq)
    return seq


async def _stream_async(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    stream, args = _split(fn, args)
    seq = 0
    try:
        async for item in fn(*args, **kwargs):
            # the put blocks on HTTP: keep the event loop (other concurrent inputs) running
            await asyncio.to_thread(stream.queue.put, ("item", seq, item))
            seq += 1
    except BaseException:
        await asyncio.to_thread(_mark, stream, "error", seq)
        raise
    await asyncio.to_thread(_mark, stream, "end", seq)
    return seq


def _mark(stream: GeneratorStream, kind: str, count: int) -> None:
    """Tell the caller the call's output follows; a lost marker only delays it (it also polls)."""
    try:
        stream.queue.put((kind, count, None))
    except Exception:
        pass
