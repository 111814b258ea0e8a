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

from . import _api, _code, _config, _output
from . import exception as exc
from ._build import build_images
from ._cls import Cls, build_cls
from ._function import Function
from ._image import Image
from ._options import check_secrets, check_volumes, parse_options, with_defaults
from ._partial import PartialFunction
from ._probe import Probe
from ._secret import PublishSecrets

# An ephemeral app whose client stops heartbeating for this long is stopped by the server.
APP_HEARTBEAT_S = 10.0


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
    if inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f):
        raise exc.InvalidError(
            f"{decorator}: {f.__qualname__} is a generator; generator functions are not supported"
            " by this version of gworker yet"
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
    ) -> None:
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
        self.name = name
        self._functions: dict[str, Function] = {}
        self._entrypoints: dict[str, LocalEntrypoint] = {}
        self._classes: dict[str, Cls] = {}
        self._app_id: str | None = None
        self._log_cursor = 0
        self._web_urls: dict[str, str] = {}  # web endpoint (function or Cls.method) -> URL

    def __repr__(self) -> str:
        return f"App({self.name!r})"

    @property
    def app_id(self) -> str | None:
        return self._app_id

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
        options = with_defaults(parse_options(kwargs), self._secrets, self._volumes, self._image)

        def wrapper(f: Any) -> Function:
            opts = options
            extra: dict[str, Any] = {}
            if isinstance(f, PartialFunction):
                if f.flags:
                    marks = ", ".join(f"@gw.{m}()" for m in sorted(f.flags))
                    raise exc.InvalidError(
                        f"{marks} marks methods of an @app.cls() class;"
                        f" {f.raw_f.__qualname__} is a plain function"
                    )
                if f.concurrency:
                    opts = dataclasses.replace(opts, concurrency=f.concurrency)
                if f.batching:
                    extra["batching"] = f.batching.to_dict()
                if f.web:  # a web endpoint: see _web.py
                    extra["web"] = [f.web.to_spec(None)]
                f = f.raw_f
            _check_decoratee(f, "@app.function()")
            fn = Function(f, opts, opts.name or f.__qualname__, self, extra_spec=extra)
            return self._register(fn)

        return wrapper

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
            parse_options(kwargs, decorator="@app.cls"), self._secrets, self._volumes, self._image
        )
        if not isinstance(probes, (list, tuple)) or not all(isinstance(p, Probe) for p in probes):
            raise exc.InvalidError(f"probes={probes!r} must be a list of gw.Probe.on(...)")

        def wrapper(user_cls: type) -> Cls:
            if not inspect.isclass(user_cls):
                raise exc.InvalidError(
                    f"@app.cls() decorates a class; {user_cls!r} is not one (use @app.function())"
                )
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

    # -- running ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def run(self, *, detach: bool = False) -> Iterator[App]:
        """Run the app ephemerally for the block: functions are callable, then it is stopped."""
        if detach:
            raise exc.InvalidError("app.run(detach=True) is not supported by this version yet")
        client = _api.client()
        self._publish(client, mode="ephemeral")
        assert self._app_id is not None
        heartbeat = _Heartbeat(client, self._app_id)
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
                client.post(f"/v1/apps/{self._app_id}/stop")
            finally:
                if logs:
                    logs.stop()
                self._unhydrate()

    def deploy(self, *, name: str | None = None) -> App:
        """Deploy the app: its functions stay callable by name until ``gw app stop``."""
        self.name = name or self.name
        if not self.name:
            raise exc.InvalidError("a deployed app needs a name: App('my-app')")
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
        modules = {fn._raw_f.__module__ for fn in self._functions.values() if fn._raw_f}
        modules |= {e.raw_f.__module__ for e in self._entrypoints.values()}
        if not modules:
            raise exc.InvalidError(f"app {self.name!r} has no functions to run")
        if len(modules) > 1:
            raise exc.InvalidError(
                f"app {self.name!r} has functions in several modules ({sorted(modules)}):"
                " define them in one entry module"
            )
        return sys.modules[modules.pop()]

    def _publish(self, client: _api.Client, mode: str) -> None:
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
        _resolve_volumes(self._functions, specs)
        resp = client.post(
            "/v1/apps",
            {"name": self.name or module_name, "environment": _config.environment(), "mode": mode},
        )
        self._app_id = resp["app_id"]
        secrets.upload_inline(self._app_id)
        default = Image.debian_slim()
        images = {tag: fn._options.image or default for tag, fn in self._functions.items()}
        for tag, image_spec in build_images(client, self._app_id, images).items():
            specs[tag]["image"] = image_spec
        client.ensure_blob(bundle.digest, bundle.data)
        published = client.post(
            f"/v1/apps/{self._app_id}/publish",
            {
                "code_blob": bundle.digest,
                "module": module_name,
                "functions": [{"tag": tag, "spec": spec} for tag, spec in specs.items()],
            },
        )
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


def _resolve_volumes(functions: dict[str, Function], specs: dict[str, Any]) -> None:
    """Each mounted volume's id (looked up, or created with ``create_if_missing``)."""
    for tag, fn in functions.items():
        specs[tag]["volumes"] = [
            {"mount_path": path, "volume_id": vol.object_id, "name": vol.name}
            for path, vol in fn._options.volumes
        ]


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
