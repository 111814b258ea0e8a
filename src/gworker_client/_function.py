"""``Function`` (a handle on a registered function) and ``FunctionCall`` (a handle on one call)."""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from . import _api, _call_graph, _config, _generator, _output, _payload
from . import exception as exc
from ._aio import Operation, blocking, iterating
from ._call_graph import InputInfo
from ._context import parent_input
from ._map_run import Failure, MapRun, decode_output
from ._object import passed_objects
from ._options import FunctionOptions
from ._protocol import FunctionSpec
from ._serialization import serialize

if TYPE_CHECKING:
    from ._app import App


def _signature(raw_f: Callable[..., Any] | None, is_method: bool) -> inspect.Signature | None:
    if raw_f is None or inspect.isclass(raw_f):
        return None
    sig = inspect.signature(raw_f)
    if is_method:  # drop `self`
        sig = sig.replace(parameters=list(sig.parameters.values())[1:])
    return sig


def new_call_id() -> str:
    return "fc-" + uuid.uuid4().hex


@dataclass(frozen=True)
class FunctionStats:
    """What ``Function.get_current_stats()`` returns."""

    backlog: int
    num_total_runners: int


class Function:
    """A function registered on an App; call it with ``.remote()``, ``.map()``, ``.spawn()``."""

    def __init__(
        self,
        raw_f: Callable[..., Any] | None,
        options: FunctionOptions,
        tag: str,
        app: App | None = None,
        *,
        method: str | None = None,
        resolver: Callable[[], str] | None = None,
        local: Callable[..., Any] | None = None,
        extra_spec: dict[str, Any] | None = None,
    ) -> None:
        self._raw_f = raw_f
        self._options = options
        self._tag = tag
        self._app = app
        self._method = method  # set on a class method's handle: inputs name the method
        self._resolver = resolver  # how a method handle finds its (bound) function id
        self._local = local
        self._extra_spec = extra_spec or {}
        self._object_id: str | None = None
        self._lookup: tuple[str, str, str] | None = None  # (app name, tag, environment)
        self._signature = _signature(raw_f, is_method=method is not None)
        if raw_f is not None and method is None and not inspect.isclass(raw_f):
            self.__doc__ = raw_f.__doc__
            self.__name__ = raw_f.__name__
            self.__qualname__ = raw_f.__qualname__
            self.__module__ = raw_f.__module__

    def __repr__(self) -> str:
        return f"Function({self._tag!r})"

    @classmethod
    def from_name(
        cls, app_name: str, name: str, *, environment_name: str | None = None
    ) -> Function:
        """A handle on a deployed function; resolved lazily on first use."""
        fn = cls(None, FunctionOptions(), name)
        fn._lookup = (app_name, name, environment_name or _config.environment())
        return fn

    @classmethod
    def lookup(cls, app_name: str, name: str, *, environment_name: str | None = None) -> Function:
        """Modal's older spelling (before 1.0) of ``from_name(app_name, name).hydrate()``."""
        return cls.from_name(app_name, name, environment_name=environment_name).hydrate()

    def _spec(self) -> FunctionSpec:
        return msgspec.structs.replace(self._options.to_spec(), **self._extra_spec)

    @property
    def object_id(self) -> str:
        return self._hydrate()

    @property
    def tag(self) -> str:
        return self._tag

    @blocking
    def hydrate(self) -> Function:
        """Look the function up now rather than on first use; return it."""
        self._hydrate()
        return self

    @property
    def is_generator(self) -> bool:
        """Whether the function yields its results (call it with ``remote_gen``)."""
        if self._raw_f is not None and not inspect.isclass(self._raw_f):
            return _generator.is_generator_function(self._raw_f)
        if self._lookup and not self._object_id:
            self._hydrate()  # a function looked up by name: its spec says
        return bool(self._extra_spec.get("generator"))

    def _hydrate(self) -> str:
        if self._object_id:
            return self._object_id
        if self._resolver:
            return self._resolver()
        if self._lookup:
            app_name, tag, env = self._lookup
            info = _api.lookup_function(app_name, tag, env)
            self._object_id = info["function_id"]
            self._extra_spec = {"generator": bool(info["spec"].get("generator"))}
            return self._object_id
        raise exc.ExecutionError(
            f"function {self._tag!r} has not been deployed or run: call it inside"
            " `with app.run():` or `gw run`, or deploy the app and use"
            " gw.Function.from_name(app_name, name)"
        )

    def _refuse_generator(self, how: str) -> None:
        if self.is_generator:
            raise exc.InvalidError(
                f"A generator function cannot be called with `.{how}(...)`. Use"
                f" `.remote_gen(...)` instead ({self._tag!r} yields its results)."
            )

    def _payload(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bytes, list[str]]:
        """The pickled input, and the ids of the objects pickled into it (a function with
        restrict_modal_access=True may use those)."""
        value = (args, kwargs, self._method) if self._method else (args, kwargs)
        with passed_objects() as ids:
            data = serialize(value)
        return _payload.outbound(data, f"arguments of {self._tag!r}"), sorted(ids)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self._extra_spec.get("web"):
            raise exc.InvalidError(
                f"{self._tag!r} is a web endpoint: call it over HTTP at its URL"
                " (.get_web_url()), not with .remote(), .spawn() or .map()"
            )
        if self._signature is None:
            return
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self._tag}{self._signature}: {e}") from None

    # -- calling -------------------------------------------------------------------------------

    def local(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function here, in this process."""
        if self._local is not None:
            return self._local(*args, **kwargs)
        if self._raw_f is None:
            raise exc.ExecutionError(f"{self._tag!r} was looked up by name: it has no local code")
        return self._raw_f(*args, **kwargs)

    @blocking
    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function in a container and return its result."""
        self._refuse_generator("remote")
        return self._call(args, kwargs, wait=True).get()

    @iterating
    def remote_gen(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Run a generator function in a container; yield its items as they are produced.

        An exception raised by the function reaches the caller after the items before it.
        """
        if not self.is_generator:
            raise exc.InvalidError(
                f"A non-generator function cannot be called with `.remote_gen(...)`. Use"
                f" `.remote(...)` instead ({self._tag!r} returns its result)."
            )
        self._bind(args, kwargs)
        return _generator.consume(self, args, kwargs)

    @blocking
    def spawn(self, *args: Any, **kwargs: Any) -> FunctionCall:
        """Start the function in a container; return a ``FunctionCall`` at once."""
        self._refuse_generator("spawn")
        return self._call(args, kwargs, wait=False)

    def _call(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        wait: bool,
        stream: Any = None,
    ) -> FunctionCall:
        self._bind(args, kwargs)
        # a generator's input carries, first, where its items go
        payload, objects = self._payload((stream, *args) if stream is not None else args, kwargs)
        call = FunctionCall(new_call_id())
        resp = _api.client().post(
            f"/v1/functions/{self._hydrate()}/calls",
            {
                "call_id": call.object_id,
                "inputs": [[0, payload]],
                "total": 1,
                "wait": _config.LONG_POLL_S if wait else 0,
                "objects": objects,
                "parent": parent_input(),
            },
            timeout=_config.LONG_POLL_S + 30,
        )
        call._absorb(resp)
        return call

    @iterating
    def map(
        self,
        *input_iterators: Iterable[Any],
        kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
    ) -> Iterator[Any]:
        """Run the function over the zipped iterables in parallel; yield the results."""
        self._refuse_generator("map")
        if not input_iterators:
            raise exc.InvalidError(f"{self._tag}.map() needs at least one iterable of inputs")
        items = ((args, kwargs or {}) for args in zip(*input_iterators))
        return MapRun(self, items, order_outputs, return_exceptions).results()

    @iterating
    def starmap(
        self,
        input_iterator: Iterable[Iterable[Any]],
        *,
        kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
    ) -> Iterator[Any]:
        """Like ``map``, but each item is a tuple of positional arguments."""
        self._refuse_generator("starmap")
        items = ((tuple(args), kwargs or {}) for args in input_iterator)
        return MapRun(self, items, order_outputs, return_exceptions).results()

    @blocking
    def for_each(
        self,
        *input_iterators: Iterable[Any],
        kwargs: dict[str, Any] | None = None,
        ignore_exceptions: bool = False,
    ) -> None:
        """Run the function over the inputs for its side effects; return nothing."""
        for _ in self.map(
            *input_iterators,
            kwargs=kwargs,
            order_outputs=False,
            return_exceptions=ignore_exceptions,
        ):
            pass

    @blocking
    def spawn_map(
        self, *input_iterators: Iterable[Any], kwargs: dict[str, Any] | None = None
    ) -> FunctionCall:
        """Submit every input and return at once; ``FunctionCall.get()`` gives the result list."""
        self._refuse_generator("spawn_map")
        if not input_iterators:
            raise exc.InvalidError(f"{self._tag}.spawn_map() needs at least one iterable of inputs")
        items = ((args, kwargs or {}) for args in zip(*input_iterators))
        run = MapRun(self, items, order_outputs=True, return_exceptions=False)
        run.submit_all()
        return FunctionCall(run.call_id)

    def with_options(self, **options: Any) -> Function:
        """This function with other options (``timeout``, ``cpu``, ``memory``, ``gpu``,
        ``retries``, ``max_containers``, ``scaledown_window``, ...): its calls run in containers
        of their own, while this handle keeps its options. ``volumes`` replaces the published
        volumes; ``secrets`` are refused."""
        from ._variant import function_variant  # it subclasses Function

        return function_variant(self, options)

    # -- web endpoints (see _web.py) ---------------------------------------------------------------

    def get_web_url(self) -> str:
        """The URL of this web endpoint, served by the control plane's gateway."""
        from ._web import web_url

        return web_url(self._hydrate(), self._method)

    @property
    def web_url(self) -> str:
        """The URL of this web endpoint (the same as ``get_web_url()``)."""
        return self.get_web_url()

    @blocking
    def get_current_stats(self) -> FunctionStats:
        stats = _api.client().get(f"/v1/functions/{self._hydrate()}/stats")
        return FunctionStats(stats["backlog"], stats["num_total_runners"])


def _gather(*calls: FunctionCall) -> list[Any]:
    """Wait for every call; return their results in order (the first error is raised)."""
    for call in calls:
        if not isinstance(call, FunctionCall):
            raise exc.InvalidError(f"FunctionCall.gather takes FunctionCalls, not {call!r}")
    return [call.get() for call in calls]


class FunctionCall:
    """A handle on a call made with ``spawn`` (or ``spawn_map``); fetch its result with ``get``."""

    # ``FunctionCall.gather(*calls)`` and ``await FunctionCall.gather.aio(*calls)``
    gather = Operation(_gather)

    def __init__(self, call_id: str) -> None:
        self.object_id = call_id
        self._outputs: dict[int, tuple[str, bytes]] = {}
        self._cursor = 0
        self._total: int | None = None

    def __repr__(self) -> str:
        return f"FunctionCall({self.object_id!r})"

    @classmethod
    def from_id(cls, function_call_id: str) -> FunctionCall:
        return cls(function_call_id)

    def _absorb(self, resp: dict[str, Any]) -> None:
        for seq, idx, status, data in resp["outputs"]:
            self._outputs[idx] = (status, data)
            self._cursor = max(self._cursor, seq)
        self._total = resp.get("total")

    def _done(self) -> bool:
        return self._total is not None and len(self._outputs) >= self._total

    def _poll(self, wait: float) -> None:
        resp = _api.client().get(
            f"/v1/calls/{self.object_id}/outputs?after={self._cursor}&timeout={wait:.3f}",
            timeout=wait + 30,
        )
        self._absorb(resp)

    @blocking
    def get(self, timeout: float | None = None) -> Any:
        """Wait for the result (a list of results for ``spawn_map``); re-raise a remote error.

        Raises ``gw.exception.TimeoutError`` when ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._total is None:
            self._poll(0)
        while not self._done():
            left = _config.LONG_POLL_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise exc.TimeoutError(f"{self.object_id} did not finish within {timeout}s")
            self._poll(min(left, _config.LONG_POLL_S))
        _output.sync_logs()  # what the function printed comes before what the caller prints
        values = [decode_output(*self._outputs[i]) for i in range(self._total or 0)]
        for value in values:
            if isinstance(value, Failure):
                raise value.error
        return values[0] if self._total == 1 else values

    @blocking
    def get_call_graph(self) -> list[InputInfo]:
        """The tree of inputs this call belongs to, from its root: each input with its status,
        its container (``task_id``) and, as ``children``, the inputs of the calls it made. A
        call made in a container hangs under the input (or web request) that made it."""
        return _call_graph.decode(_api.client().get(f"/v1/calls/{self.object_id}/graph"))

    @blocking
    def cancel(self, terminate_containers: bool = False) -> None:
        """Cancel the call's pending inputs; running ones stop, with their containers if asked."""
        _api.client().post(
            f"/v1/calls/{self.object_id}/cancel", {"terminate_containers": terminate_containers}
        )
