"""Sync and async forms of one blocking operation, as Modal offers them.

Every blocking operation of the SDK is written once, as plain blocking code. These wrappers add
the async form: ``obj.op(...)`` blocks, ``await obj.op.aio(...)`` runs the same code in a worker
thread of the SDK's own pool, so an event loop is never blocked and there is never a second
implementation to keep in step. Iterators get ``async for``, context managers ``async with``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_DONE = object()
# Most blocking operations run at once for async code. asyncio's default executor has only
# cpu_count + 4 threads, which would queue `asyncio.gather(*(f.remote.aio(x) for x in xs))`
# behind a handful of calls; these threads mostly wait on the server, and start only when needed.
AIO_THREADS = 512
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(AIO_THREADS, thread_name_prefix="gw-aio")
        return _pool


async def to_thread(f: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``f`` in one of the SDK's worker threads; the caller's context variables go along."""
    call = functools.partial(contextvars.copy_context().run, f, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_executor(), call)


class Operation:
    """A bound blocking operation: call it to block, ``await op.aio(...)`` from async code."""

    __slots__ = ("__wrapped__",)

    def __init__(self, f: Callable[..., Any]) -> None:
        self.__wrapped__ = f

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self.__wrapped__.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        """The same operation, run in a worker thread so the event loop keeps going."""
        return await to_thread(self.__wrapped__, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<operation {getattr(self.__wrapped__, '__qualname__', self.__wrapped__)}>"


class IteratingOperation(Operation):
    """An operation returning an iterator usable with ``for`` and ``async for``; ``.aio(...)``
    returns the same iterator (Modal's spelling for async code)."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> DualIterator:
        return DualIterator(iter(self.__wrapped__(*args, **kwargs)))

    def aio(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        # arguments are checked here, at the call, as in the blocking form
        return self(*args, **kwargs)


class _OperationDescriptor(Generic[T]):
    def __init__(self, f: Callable[..., Any], kind: type[Operation]) -> None:
        self.f = f
        self.kind = kind
        functools.update_wrapper(self, f)  # type: ignore[arg-type]

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return self.kind(self.f.__get__(obj, objtype))


def blocking(f: Callable[..., T]) -> Callable[..., T]:
    """Mark a method as a blocking operation: ``obj.m(...)`` and ``await obj.m.aio(...)``."""
    return _OperationDescriptor(f, Operation)  # type: ignore[return-value]


def iterating(f: Callable[..., T]) -> Callable[..., T]:
    """Mark a method returning an iterator: ``for x in obj.m()``, ``async for x in obj.m.aio()``."""
    return _OperationDescriptor(f, IteratingOperation)  # type: ignore[return-value]


class DualIterator:
    """An iterator usable with ``for`` and ``async for``; the async form pulls each item from the
    blocking iterator in a worker thread."""

    def __init__(self, it: Iterator[Any]) -> None:
        self._it = it

    def __iter__(self) -> DualIterator:
        return self

    def __next__(self) -> Any:
        return next(self._it)

    def __aiter__(self) -> DualIterator:
        return self

    async def __anext__(self) -> Any:
        item = await to_thread(next, self._it, _DONE)
        if item is _DONE:
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        """Stop early: a generator underneath runs its ``finally`` (a map cancels its call)."""
        close = getattr(self._it, "close", None)
        if close is not None:
            close()

    async def aclose(self) -> None:
        await to_thread(self.close)


class DualContext(Generic[T]):
    """A context manager usable with ``with`` and ``async with`` (entered in a worker thread)."""

    def __init__(self, cm: AbstractContextManager[T]) -> None:
        self._cm = cm

    def __enter__(self) -> T:
        return self._cm.__enter__()

    def __exit__(self, *exc_info: Any) -> bool | None:
        return self._cm.__exit__(*exc_info)

    async def __aenter__(self) -> T:
        return await _keeping_context(self._cm.__enter__)

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return await _keeping_context(self._cm.__exit__, *exc_info)


async def _keeping_context(f: Callable[..., T], *args: Any) -> T:
    """``to_thread``, and what ``f`` set in its context variables is set in the caller's too:
    entering ``app.run(environment_name=...)`` with ``async with`` sets the environment for the
    block, as ``with`` does."""
    ctx = contextvars.copy_context()
    result = await asyncio.get_running_loop().run_in_executor(
        _executor(), functools.partial(ctx.run, f, *args)
    )
    for var, value in ctx.items():
        if var.get(_DONE) is not value:
            var.set(value)
    return result
