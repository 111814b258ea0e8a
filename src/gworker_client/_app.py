"""``App``: a named group of functions, run ephemerally (``app.run()``) or deployed."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

from . import _api, _code, _config, _experimental, _output
from . import exception as exc
from ._aio import DualContext
from ._build import build_images
from ._cls import Cls, build_cls
from ._container_options import check_web_options
from ._function import Function
from ._generator import is_generator_function
from ._image import Image
from ._mounts import resolve_mounts
from ._options import (
    check_include_source,
    check_secrets,
    check_volumes,
    parse_options,
    with_defaults,
)
from ._partial import PartialFunction
from ._probe import Probe
from ._protocol import (
    APP_HEARTBEAT_S,
    PublishApp,
    PublishedFunction,
    to_builtins,
)
from ._secret import PublishSecrets
from ._server import DEFAULT_STARTUP_TIMEOUT_S, Server, server_decorator, server_endpoint


@dataclass(frozen=True)
class LocalEntrypoint:
    """A function that runs on the caller's machine under ``gw run``."""

    raw_f: Callable[..., Any]
    app: App

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)

    @property
    def name(self) -> str:
        return self.raw_f.__name__


def _check_decoratee(f: Any, decorator: str) -> None:
    if isinstance(f, Function):
        raise exc.InvalidError(f"{decorator} was applied twice to {f.tag!r}")
    if inspect.isclass(f):
        raise exc.InvalidError(
            f"{decorator} decorates functions; {f.__qualname__} is a class (use @app.cls())"
        )
    if not callable(f):
        raise exc.InvalidError(f"{decorator} must decorate a function, not {f!r}")
    if "<locals>" in getattr(f, "__qualname__", ""):
        raise exc.InvalidError(
            f"{decorator} cannot decorate {f.__qualname__}: it is defined inside another function."
            " Define it at module level so containers can import it."
        )


def _check_schedulable(f: Callable[..., Any]) -> None:
    required = [
        p.name
        for p in inspect.signature(f).parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise exc.InvalidError(
            f"@app.function(schedule=...): {f.__qualname__} is called with no arguments on its"
            f" schedule, but requires {', '.join(required)}; give them defaults"
        )


class App:
    """A named group of functions. ``gw run`` runs it; ``gw deploy`` keeps it running."""

    def __init__(
        self,
        name: str | None = None,
        *,
        image: Any = None,
        secrets: Any = (),
        volumes: Any = None,
        include_source: bool | None = None,
    ) -> None:
        """``include_source=False``: containers import the functions' module from their image
        (``image.add_local_python_source(...)``) instead of receiving the entry module's source
        automatically; a function's own ``include_source=`` wins."""
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise exc.InvalidError(f"App name {name!r} must be a non-empty string")
        if image is not None and not isinstance(image, Image):
            raise exc.InvalidError(
                f"App(image={image!r}): expected a gw.Image, e.g. gw.Image.debian_slim()"
            )
        self._image: Image | None = image
        # defaults for every function: merged under each function's own at decoration
        self._secrets = check_secrets(secrets or (), "App")
        self._volumes = dict(check_volumes(volumes or {}, "App"))
        self._include_source = check_include_source(include_source, "App")
        self.name = name
        self._functions: dict[str, Function] = {}
        self._entrypoints: dict[str, LocalEntrypoint] = {}
        self._classes: dict[str, Cls] = {}
        self._included: set[str] = set()  # tags added by include(): defined in other modules
        self._app_id: str | None = None
        self._log_cursor = 0
        self._web_urls: dict[str, str] = {}  # web endpoint (function or Cls.method) -> URL

    def __repr__(self) -> str:
        return f"App({self.name!r})"

    @property
    def app_id(self) -> str | None:
        return self._app_id

    @property
    def image(self) -> Image:
        """The app's default image (``Image.debian_slim()`` when none was given), e.g. for
        ``with app.image.imports():``."""
        return self._image or Image.debian_slim()

    @property
    def registered_functions(self) -> dict[str, Function]:
        return dict(self._functions)

    @property
    def registered_classes(self) -> dict[str, Cls]:
        return dict(self._classes)

    @property
    def registered_entrypoints(self) -> dict[str, LocalEntrypoint]:
        return dict(self._entrypoints)

    # -- decorators ------------------------------------------------------------------------------

    def function(self, _f: Any = None, **kwargs: Any) -> Callable[[Callable[..., Any]], Function]:
        """Register a function to run in containers: ``@app.function(timeout=60)``."""
        if _f is not None:
            raise exc.InvalidError(
                "did you forget the parentheses? Write `@app.function()`, not `@app.function`."
            )
        options = with_defaults(
            parse_options(kwargs), self._secrets, self._volumes, self._image, self._include_source
        )

        def wrapper(f: Any) -> Function:
            opts = options
            extra: dict[str, Any] = {}
            if isinstance(f, PartialFunction):
                if f.flags:
                    marks = ", ".join(f"@gw.{m}()" for m in sorted(f.flags - {"snap"}))
                    raise exc.InvalidError(
                        f"{marks} marks methods of an @app.cls() class;"
                        f" {f.raw_f.__qualname__} is a plain function"
                    )
                if f.concurrency:
                    opts = dataclasses.replace(opts, concurrency=f.concurrency)
                if f.batching:
                    extra["batching"] = f.batching.to_record()
                if f.web:  # a web endpoint: see _web.py
                    check_web_options(opts, f.raw_f.__qualname__)
                    extra["web"] = (f.web,)
                f = f.raw_f
            _check_decoratee(f, "@app.function()")
            if opts.schedule is not None:
                _check_schedulable(f)
            if is_generator_function(f):
                if "batching" in extra:
                    raise exc.InvalidError(
                        f"@gw.batched() cannot mark {f.__qualname__}: it is a generator function"
                    )
                extra["generator"] = True  # callers of Function.from_name must know
            fn = Function(f, opts, opts.name or f.__qualname__, self, extra_spec=extra)
            return self._register(fn)

        return wrapper

    def include(self, other: App) -> App:
        """Add ``other``'s functions and classes to this app, to run and deploy them together.

        Call it in the app's entry module: containers import that module and find each included
        function there, under its name (which must not name something else in the module).
        """
        if not isinstance(other, App):
            raise exc.InvalidError(f"app.include() takes a gw.App, not {other!r}")
        entry = sys._getframe(1).f_globals  # the module calling include(): the entry module
        for tag, fn in other._functions.items():
            obj = other._classes.get(tag, fn)
            if self._functions.get(tag, fn) is not fn or entry.get(tag, obj) is not obj:
                raise exc.InvalidError(
                    f"app.include({other.name!r}): {tag!r} already names something else in"
                    f" app {self.name!r} or in module {entry.get('__name__')!r}; rename one"
                )
        for tag, fn in other._functions.items():
            self._functions[tag] = fn
            entry[tag] = other._classes.get(tag, fn)
            self._included.add(tag)
        self._classes.update(other._classes)
        return self

    def _register(self, fn: Function) -> Function:
        if fn.tag in self._functions:
            raise exc.InvalidError(f"app {self.name!r} already has a function named {fn.tag!r}")
        self._functions[fn.tag] = fn
        return fn

    def local_entrypoint(
        self, _f: Any = None, *, name: str | None = None
    ) -> Callable[[Callable[..., Any]], LocalEntrypoint]:
        """Register a function that ``gw run`` calls on this machine with CLI options."""
        if _f is not None:
            raise exc.InvalidError(
                "did you forget the parentheses? Write `@app.local_entrypoint()`."
            )

        def wrapper(f: Callable[..., Any]) -> LocalEntrypoint:
            entry = LocalEntrypoint(f, self)
            self._entrypoints[name or f.__name__] = entry
            return entry

        return wrapper

    def cls(self, _c: Any = None, *, probes: Any = (), **kwargs: Any) -> Callable[[type], Cls]:
        """Register a class served by containers: ``@app.cls(gpu="A100", min_workers=1)``.

        Takes ``@app.function``'s options plus ``probes=[gw.Probe.on(...)]``.
        """
        if _c is not None:
            raise exc.InvalidError(
                "did you forget the parentheses? Write `@app.cls()`, not `@app.cls`."
            )
        options = with_defaults(
            parse_options(kwargs, decorator="@app.cls"),
            self._secrets,
            self._volumes,
            self._image,
            self._include_source,
        )
        if not isinstance(probes, (list, tuple)) or not all(isinstance(p, Probe) for p in probes):
            raise exc.InvalidError(f"probes={probes!r} must be a list of gw.Probe.on(...)")

        def wrapper(user_cls: type) -> Cls:
            if not inspect.isclass(user_cls):
                raise exc.InvalidError(
                    f"@app.cls() decorates a class; {user_cls!r} is not one (use @app.function())"
                )
            mark = _experimental.marked(user_cls)
            if mark is not None:  # @modal.experimental.http_server: an @app.server class
                server = _experimental.as_server(self, user_cls, mark, probes, kwargs)
                return server  # type: ignore[return-value]
            cls, service = build_cls(user_cls, options, list(probes), self)
            if "<locals>" in user_cls.__qualname__:
                raise exc.InvalidError(
                    f"@app.cls() cannot decorate {user_cls.__qualname__}: it is defined inside a"
                    " function. Define it at module level so containers can import it."
                )
            self._register(service)
            self._classes[service.tag] = cls
            return cls

        return wrapper

    def server(
        self,
        _c: Any = None,
        *,
        port: int = 8000,
        unauthenticated: bool = False,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_S,
        label: str | None = None,
        custom_domains: Any = (),
        proxy_regions: Any = None,
        target_concurrency: int | None = None,
        exit_grace_period: int = 0,
        h2_enabled: bool = False,
        **kwargs: Any,
    ) -> Callable[[type], Server]:
        """Register a class whose ``@gw.enter()`` methods start an HTTP server on ``port``,
        served through the gateway at ``Server.get_url()`` (Modal's ``@app.server``). Takes
        ``@app.function``'s options too; requests need proxy-auth headers unless
        ``unauthenticated=True``; the server must accept connections within
        ``startup_timeout`` seconds (default 30) of the hooks starting. ``target_concurrency``
        is the requests in flight per container the autoscaler aims for."""
        if _c is not None:
            raise exc.InvalidError(
                "did you forget the parentheses? Write `@app.server(port=...)`, not `@app.server`."
            )
        endpoint = server_endpoint(
            port,
            unauthenticated=unauthenticated,
            startup_timeout=startup_timeout,
            label=label,
            custom_domains=custom_domains,
            exit_grace_period=exit_grace_period,
            h2_enabled=h2_enabled,
        )
        options = with_defaults(
            parse_options(kwargs, decorator="@app.server"),
            self._secrets,
            self._volumes,
            self._image,
            self._include_source,
        )
        return server_decorator(self, endpoint, options, proxy_regions, target_concurrency)

    # -- running ---------------------------------------------------------------------------------

    def run(self, *, detach: bool = False, environment_name: str | None = None) -> DualContext[App]:
        """Run the app ephemerally for the block (``with`` or ``async with``): its functions are
        callable, then it is stopped. ``environment_name`` (default ``GW_ENVIRONMENT``, else
        main) is where the app and the named objects it uses live.

        ``detach=True`` (``gw run --detach``): when the block ends, or the client dies or is
        interrupted, the app keeps running the calls it was given (spawned calls, a map's
        submitted inputs, scheduled runs already started) and stops once it has none left;
        ``gw app stop`` stops it sooner."""
        return DualContext(self._run_in(environment_name, detach))

    @contextlib.contextmanager
    def _run_in(self, environment_name: str | None, detach: bool = False) -> Iterator[App]:
        with _config.using_environment(environment_name), self._run(detach) as app:
            yield app

    @contextlib.contextmanager
    def _run(self, detach: bool = False) -> Iterator[App]:
        client = _api.client()
        heartbeats: list[_Heartbeat] = []
        try:
            # heartbeats start once the app exists: a long image build must not look like a
            # client that went away
            self._publish(
                client,
                mode="detached" if detach else "ephemeral",
                created=lambda app_id: heartbeats.append(_Heartbeat(client, app_id)),
            )
        except BaseException:
            for heartbeat in heartbeats:
                heartbeat.stop()
            raise
        assert self._app_id is not None
        heartbeat = heartbeats[0]
        logs = (
            _output.LogFollower(self._app_id, self._log_cursor).start()
            if _output.is_enabled()
            else None
        )
        try:
            yield self
        finally:
            heartbeat.stop()
            try:
                # an ephemeral app stops now; a detached one once it has finished its calls
                client.post(f"/v1/apps/{self._app_id}/disconnect")
                if detach and _output.is_enabled():
                    print(
                        f"the detached app {self._app_id} keeps running its calls; follow it with"
                        f" `gw app logs -f {self._app_id}`, stop it with `gw app stop"
                        f" {self._app_id}`",
                        file=sys.stderr,
                    )
            finally:
                if logs:
                    logs.stop()
                self._unhydrate()

    def deploy(self, *, name: str | None = None, environment_name: str | None = None) -> App:
        """Deploy the app: its functions stay callable by name until ``gw app stop``.
        ``environment_name`` (default ``GW_ENVIRONMENT``, else main) is the environment it is
        deployed to; the same name in two environments is two independent deployments."""
        self.name = name or self.name
        if not self.name:
            raise exc.InvalidError("a deployed app needs a name: App('my-app')")
        with _config.using_environment(environment_name):
            self._publish(_api.client(), mode="deployed")
        return self

    @staticmethod
    def lookup(
        name: str, *, create_if_missing: bool = False, environment_name: str | None = None
    ) -> App:
        """A handle on a deployed app by name."""
        env = environment_name or _config.environment()
        info = _api.client().post(
            "/v1/apps/lookup", {"name": name, "environment": env, "create": create_if_missing}
        )
        app = App(name)
        app._app_id = info["app_id"]
        return app

    def _module(self) -> ModuleType:
        modules = {
            fn._raw_f.__module__
            for tag, fn in self._functions.items()
            if fn._raw_f and tag not in self._included
        }
        modules |= {e.raw_f.__module__ for e in self._entrypoints.values()}
        if not modules:
            raise exc.InvalidError(f"app {self.name!r} has no functions to run")
        if len(modules) > 1:
            raise exc.InvalidError(
                f"app {self.name!r} has functions in several modules ({sorted(modules)}):"
                " define them in one entry module"
            )
        return sys.modules[modules.pop()]

    def _publish(
        self,
        client: _api.Client,
        mode: str,
        into: str | None = None,
        created: Callable[[str], None] | None = None,
    ) -> None:
        """Upload the code and publish the functions: into a new app, or into the running app
        ``into`` (``gw serve`` reloading), whose previous functions the server then retires.
        ``created`` is called with the app's id as soon as it exists."""
        module = self._module()
        module_name = module.__name__
        if module_name == "__main__":
            module_name = Path(module.__file__ or "app.py").stem
            # containers import the file under its own name: let results that name its
            # classes (an exception type, say) resolve to the running script's objects
            sys.modules.setdefault(module_name, module)
        bundle = _code.bundle(module, module_name)
        specs = {tag: fn._spec() for tag, fn in self._functions.items()}
        # named secrets and volumes must exist before the app is created or any container starts
        secrets = PublishSecrets(client, self._functions, specs)
        secrets.check_named()
        resolve_mounts(self._functions, specs)
        if into is None:
            into = client.post(
                "/v1/apps",
                {
                    "name": self.name or module_name,
                    "environment": _config.environment(),
                    "mode": mode,
                },
            )["app_id"]
        self._app_id = into
        if created is not None:
            created(self._app_id)
        secrets.upload_inline(self._app_id)
        default = Image.debian_slim()
        images = {tag: fn._options.image or default for tag, fn in self._functions.items()}
        for tag, image_spec in build_images(client, self._app_id, images).items():
            specs[tag] = msgspec.structs.replace(specs[tag], image=image_spec)
        client.ensure_blob(bundle.digest, bundle.data)
        functions = [PublishedFunction(tag=tag, spec=spec) for tag, spec in specs.items()]
        request = PublishApp(code_blob=bundle.digest, module=module_name, functions=functions)
        published = client.post(f"/v1/apps/{self._app_id}/publish", to_builtins(request))
        self._hydrate(published["functions"])
        self._log_cursor = published["log_cursor"]
        self._web_urls = published.get("web_urls") or {}

    def _hydrate(self, function_ids: dict[str, str]) -> None:
        for tag, fid in function_ids.items():
            if tag in self._functions:
                self._functions[tag]._object_id = fid

    def _unhydrate(self) -> None:
        for fn in self._functions.values():
            fn._object_id = None
        self._app_id = None


class _Heartbeat:
    """Keeps an ephemeral app alive while its client runs; a crashed client's app is reaped."""

    def __init__(self, client: _api.Client, app_id: str) -> None:
        self._client = client
        self._app_id = app_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gw-app-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(APP_HEARTBEAT_S):
            with contextlib.suppress(exc.Error):
                self._client.post(f"/v1/apps/{self._app_id}/heartbeat")

    def stop(self) -> None:
        self._stop.set()
