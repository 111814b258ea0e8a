"""``import modal`` without the real Modal package: an import hook that resolves it to gworker.

Installed by ``gw run`` and ``gw deploy`` in the caller, and by the runtime in containers, so an
unmodified Modal app runs. When the real ``modal`` package is installed, it is used and the hook
stays out of the way. Either way the first ``import modal`` says once (on stderr) which was used.

``modal`` and its submodules are built here, not shipped as a top-level ``modal`` package, which
would shadow the real one wherever both are installed.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

# Modal's submodules that apps import, and the gworker names each one offers
# (``module:attribute.path``).
SUBMODULES: dict[str, dict[str, str]] = {
    "app": {"App": "gworker_client:App", "LocalEntrypoint": "gworker_client:LocalEntrypoint"},
    "call_graph": {
        name: f"gworker_client._call_graph:{name}" for name in ("InputInfo", "InputStatus")
    },
    "cls": {name: f"gworker_client:{name}" for name in ("Cls", "Obj", "parameter")},
    "config": {name: f"gworker_client._compat:{name}" for name in ("config", "logger")},
    "dict": {"Dict": "gworker_client:Dict"},
    "experimental": {"http_server": "gworker_client._experimental:http_server"},
    "functions": {
        "Function": "gworker_client:Function",
        "FunctionCall": "gworker_client:FunctionCall",
        "FunctionStats": "gworker_client:FunctionStats",
        "gather": "gworker_client:FunctionCall.gather",
    },
    "gpu": {"Gpu": "gworker_client:Gpu"},
    "image": {"Image": "gworker_client:Image"},
    "partial_function": {
        name: f"gworker_client:{name}"
        for name in ("batched", "concurrent", "enter", "exit", "method")
    },
    "queue": {"Queue": "gworker_client:Queue"},
    "retries": {"Retries": "gworker_client:Retries"},
    "runner": {"deploy_app": "gworker_client._compat:deploy_app"},
    "sandbox": {"Sandbox": "gworker_client:Sandbox"},
    "container_process": {"ContainerProcess": "gworker_client:ContainerProcess"},
    "io_streams": {
        name: f"gworker_client._container_process:{name}"
        for name in ("StreamReader", "StreamWriter")
    },
    "file_io": {"FileIO": "gworker_client._file_io:FileIO"},
    "secret": {"Secret": "gworker_client:Secret"},
    "volume": {"Volume": "gworker_client:Volume"},
}
# Whole gworker modules standing in for Modal's.
ALIASES = {
    "environments": "gworker_client.environments",
    "exception": "gworker_client.exception",
}
# Names Modal itself removed, and what replaces them.
REPLACED = {
    "Stub": "Modal renamed it modal.App (and `stub.function` is `app.function`)",
    "Mount": (
        "Modal 1.0 removed it; add local files to the image with Image.add_local_dir(),"
        " add_local_file() or add_local_python_source()"
    ),
}
# Modal names gworker does not provide, with why and what to use instead.
UNPROVIDED_NAMES = {
    "OutboundPolicy": (
        "injecting secrets into a sandbox's outbound HTTPS needs a TLS-intercepting egress proxy,"
        " which gworker does not run; make the authenticated call from a function holding the"
        " secret (secrets=[...]), or pass the secret to the sandbox (secrets=[...])"
    ),
}
_installed: ModalFinder | None = None


def _resolve(ref: str) -> Any:
    module, _, path = ref.partition(":")
    value: Any = importlib.import_module(module)
    for name in path.split("."):
        value = getattr(value, name)
    return value


def submodule(name: str) -> ModuleType:
    """The stand-in for ``modal.<name>`` as a plain module (no import hook): what
    ``gworker_client.<name>`` gives an app that changed only its import line."""
    if name not in SUBMODULES:
        why = {**REPLACED, **UNPROVIDED_NAMES}.get(name)
        if why:
            raise AttributeError(f"gworker_client.{name} is not provided: {why}")
        raise AttributeError(f"module 'gworker_client' has no attribute {name!r}")
    module = ModuleType(f"gworker_client.{name}", f"gworker standing in for modal.{name}")
    module.__dict__.update({n: _resolve(ref) for n, ref in SUBMODULES[name].items()})
    module.__dict__["__all__"] = sorted(SUBMODULES[name])
    return module


def _missing(fullname: str) -> Any:
    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if fullname == "modal" and name in REPLACED:
            raise AttributeError(f"modal.{name} is not provided by gworker: {REPLACED[name]}")
        if fullname == "modal" and name in UNPROVIDED_NAMES:
            raise AttributeError(f"modal.{name} is not provided: {UNPROVIDED_NAMES[name]}")
        if fullname == "modal.experimental":
            from ._experimental import UNPROVIDED

            raise AttributeError(f"modal.experimental.{name} is not provided: {UNPROVIDED}")
        if fullname == "modal" and (name in SUBMODULES or name in ALIASES):
            # Modal's own __init__ imports these, so apps use ``modal.container_process.X``
            # after a bare ``import modal``; import the stand-in on first use
            return importlib.import_module(f"modal.{name}")
        raise AttributeError(
            f"{fullname}.{name} is not provided by gworker: see the README's 'Modal"
            " compatibility' section for what each Modal name does on gworker"
        )

    return __getattr__


class _ShimLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        alias = ALIASES.get(spec.name.partition(".")[2])
        # an alias is gworker's own module object, so its classes keep their identity
        return importlib.import_module(alias) if alias else None

    def exec_module(self, module: ModuleType) -> None:
        name = module.__name__
        if name.startswith("gworker_client"):
            return  # an alias, already executed
        if name == "modal":
            import gworker_client

            names = {n: getattr(gworker_client, n) for n in gworker_client.__all__}
            names["__version__"] = gworker_client.__version__
            names["__all__"] = list(gworker_client.__all__)
        else:
            names = {n: _resolve(ref) for n, ref in SUBMODULES[name.split(".", 1)[1]].items()}
            names["__all__"] = sorted(names)
        module.__dict__.update(names)
        module.__dict__["__getattr__"] = _missing(name)
        module.__doc__ = f"gworker standing in for {name} (the modal package is not installed)"


class ModalFinder(importlib.abc.MetaPathFinder):
    """Resolves ``modal`` and ``modal.*`` to gworker while the real package is absent."""

    def __init__(self, announce: bool) -> None:
        self.announce = announce
        self.announced = False
        self.loader = _ShimLoader()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "modal" and not fullname.startswith("modal."):
            return None
        if fullname == "modal":
            real = _real_modal()
            self._say(
                f"import modal: using the installed modal package ({real.origin})"
                if real
                else "import modal: resolved to gworker (the modal package is not installed)"
            )
            if real:
                return None
        elif _real_modal_loaded():
            return None
        sub = fullname.split(".", 1)[1] if "." in fullname else None
        if sub is not None and sub not in SUBMODULES and sub not in ALIASES:
            raise ImportError(
                f"No module named {fullname!r}: gworker stands in for modal and provides"
                f" modal.{', modal.'.join(sorted([*SUBMODULES, *ALIASES]))}",
                name=fullname,
            )
        return importlib.machinery.ModuleSpec(fullname, self.loader, is_package=fullname == "modal")

    def _say(self, line: str) -> None:
        if self.announce and not self.announced:
            self.announced = True
            sys.stderr.write(line + "\n")


def _real_modal() -> importlib.machinery.ModuleSpec | None:
    """The installed modal package's spec, looked for past this hook."""
    for finder in sys.meta_path:
        if isinstance(finder, ModalFinder):
            continue
        find = getattr(finder, "find_spec", None)
        spec = find("modal", None) if find else None
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


def _real_modal_loaded() -> bool:
    spec = getattr(sys.modules.get("modal"), "__spec__", None)
    return spec is not None and not isinstance(spec.loader, _ShimLoader)


def install(*, announce: bool = True) -> None:
    """Let ``import modal`` resolve to gworker when the real package is not installed."""
    global _installed
    if _installed is None:
        _installed = ModalFinder(announce)
        sys.meta_path.insert(0, _installed)
    else:
        _installed.announce = announce
