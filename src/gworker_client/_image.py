"""``Image``: what a container's environment holds, as an immutable chain of layers.

Every builder method (``pip_install``, ``env``, ``add_local_dir``, ...) returns a new ``Image`` with
one more layer, so images can be shared and extended like values (as in Modal). Bad arguments fail
here, at definition, naming the bad value; the build itself happens on the server.

An image travels to the server as ``to_spec()``: plain data (msgpack-able) with one dict per layer.
Each layer prefix has a content digest (``layer_digests``), the key of the server's build cache: the
same spec never builds twice, and after a change the layers before it are reused. Local files are
referenced by their sha256; ``uploads()`` lists the blobs the SDK must upload before publishing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import _image_files as files
from ._protocol.image import SPEC_VERSION, layer_digests
from .exception import InvalidError

MIN_PYTHON = (3, 10)
# Paths no image may place files at, on any backend: the kernel's own filesystems.
_RESERVED = ("/proc", "/sys", "/dev")
_APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.\-]+(:[a-z0-9]+)?([=<>]{1,2}[A-Za-z0-9.+~:\-]+)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OCI_HELP = (
    "is not supported by this version yet: images are Debian root filesystems built by gworker"
    " itself (OCI registries and Dockerfiles are not wired into the builder). Describe the image"
    " with Image.debian_slim(python_version=...) and .apt_install(...), .pip_install(...),"
    " .run_commands(...)."
)


@dataclass(frozen=True)
class _Layer:
    """One build step: ``spec`` is plain data; ``sources`` are local files hashed lazily."""

    spec: Mapping[str, Any]
    force_build: bool = False
    sources: tuple[files.Source, ...] = ()
    blobs: Mapping[str, bytes] = field(default_factory=dict)

    def to_spec(self) -> dict[str, Any]:
        out = dict(self.spec)
        if self.sources:
            out["files"] = [f.to_spec() for src in self.sources for f in src.files()]
            out["roots"] = sorted({src.remote for src in self.sources})
        out["force_build"] = self.force_build
        return out


class Image:
    """A container image: a base Python plus packages, files, environment and build commands.

    Start from ``Image.debian_slim()`` and chain builder methods; each returns a new image::

        image = gw.Image.debian_slim(python_version="3.11").pip_install("numpy").env({"A": "1"})
    """

    def __init__(self, _layers: tuple[_Layer, ...]) -> None:
        if not _layers or _layers[0].spec.get("op") != "base":
            raise InvalidError("create images with Image.debian_slim(), not Image()")
        self._layers = _layers

    # -- bases ------------------------------------------------------------------------------------

    @staticmethod
    def debian_slim(python_version: str | None = None, force_build: bool = False) -> Image:
        """The default image: a clean Python with the gworker runtime and nothing else.

        ``python_version`` ("3.11" or "3.11.7") defaults to this interpreter's major.minor, so
        values pickled here unpickle in the container.
        """
        version = _python_version(python_version)
        return Image((_Layer({"op": "base", "python_version": version}, force_build),))

    @staticmethod
    def from_registry(tag: str, *args: Any, **kwargs: Any) -> Image:
        raise InvalidError(f"Image.from_registry({tag!r}) {_OCI_HELP}")

    @staticmethod
    def from_dockerfile(path: str | Path, *args: Any, **kwargs: Any) -> Image:
        raise InvalidError(f"Image.from_dockerfile({str(path)!r}) {_OCI_HELP}")

    @staticmethod
    def from_aws_ecr(tag: str, *args: Any, **kwargs: Any) -> Image:
        raise InvalidError(f"Image.from_aws_ecr({tag!r}) {_OCI_HELP}")

    @staticmethod
    def from_gcp_artifact_registry(tag: str, *args: Any, **kwargs: Any) -> Image:
        raise InvalidError(f"Image.from_gcp_artifact_registry({tag!r}) {_OCI_HELP}")

    @staticmethod
    def micromamba(*args: Any, **kwargs: Any) -> Image:
        raise InvalidError(
            "Image.micromamba() is not supported by this version yet (conda environments are not"
            " built): use Image.debian_slim(python_version=...).pip_install(...), or"
            " .apt_install(...) for system libraries"
        )

    def micromamba_install(self, *args: Any, **kwargs: Any) -> Image:
        raise InvalidError(
            "Image.micromamba_install() is not supported by this version yet: use"
            " .pip_install(...) or .apt_install(...)"
        )

    def dockerfile_commands(self, *args: Any, **kwargs: Any) -> Image:
        raise InvalidError(f"Image.dockerfile_commands() {_OCI_HELP}")

    # -- packages ---------------------------------------------------------------------------------

    def pip_install(self, *packages: str | Sequence[str], **options: Any) -> Image:
        """Install Python packages (resolved and installed with uv). Options as in Modal:
        ``index_url``, ``extra_index_url``, ``find_links``, ``pre``, ``extra_options``,
        ``force_build``."""
        return self._pip("pip_install", packages, None, options)

    def uv_pip_install(self, *packages: str | Sequence[str], **options: Any) -> Image:
        """Install Python packages with uv (the same installer as ``pip_install`` here)."""
        options.pop("uv_version", None)
        requirements = options.pop("requirements", None)
        text = None
        if requirements:
            reqs = [requirements] if isinstance(requirements, (str, Path)) else requirements
            text = "\n".join(files.read_requirements(Path(r), "uv_pip_install") for r in reqs)
        return self._pip("uv_pip_install", packages, text, options)

    def pip_install_from_requirements(self, requirements_txt: str | Path, **options: Any) -> Image:
        """Install the packages of a local requirements file; its text becomes part of the image
        (``-r`` includes are inlined), so editing the file rebuilds this layer."""
        text = files.read_requirements(Path(requirements_txt), "pip_install_from_requirements")
        return self._pip("pip_install_from_requirements", (), text, options)

    def _pip(
        self,
        method: str,
        packages: tuple[str | Sequence[str], ...],
        requirements: str | None,
        options: dict[str, Any],
    ) -> Image:
        force = _force(method, options)
        known = {"index_url", "extra_index_url", "find_links", "pre", "extra_options", "secrets"}
        _no_unknown(method, options, known)
        pkgs = _strings(method, packages)
        for p in pkgs:
            if p.startswith("-"):
                raise InvalidError(
                    f"Image.{method}({p!r}): options go in extra_options={p!r}, not the packages"
                )
        if not pkgs and not requirements:
            return self
        spec: dict[str, Any] = {"op": method, "packages": pkgs, "requirements": requirements}
        for key in ("index_url", "extra_index_url", "find_links"):
            spec[key] = _opt_str(method, key, options.get(key))
        spec["pre"] = bool(options.get("pre", False))
        extra = options.get("extra_options") or ""
        try:
            spec["extra_options"] = shlex.split(extra)
        except (ValueError, AttributeError) as e:
            raise InvalidError(f"Image.{method}(extra_options={extra!r}): {e}") from None
        spec["secrets"] = _secret_refs(method, options.get("secrets", ()))
        return self._extend(_Layer(spec, force))

    def apt_install(self, *packages: str | Sequence[str], force_build: bool = False) -> Image:
        """Debian packages, installed with apt inside the image (never on the host)."""
        pkgs = _strings("apt_install", packages)
        for p in pkgs:
            if not _APT_NAME.match(p):
                raise InvalidError(
                    f"Image.apt_install({p!r}): not a Debian package name (lowercase letters,"
                    " digits, '+', '-', '.', optionally '=version')"
                )
        if not pkgs:
            return self
        return self._extend(_Layer({"op": "apt_install", "packages": pkgs}, force_build))

    # -- commands ---------------------------------------------------------------------------------

    def run_commands(
        self,
        *commands: str | Sequence[str],
        secrets: Sequence[Any] = (),
        gpu: Any = None,
        force_build: bool = False,
    ) -> Image:
        """Shell commands run as root inside the image at build time; whatever they write is in
        the image (``pip install`` installs into the image's Python)."""
        cmds = _strings("run_commands", commands)
        if gpu is not None:
            raise InvalidError("Image.run_commands(gpu=...) is not supported by this version yet")
        if not cmds:
            return self
        spec = {
            "op": "run_commands",
            "commands": cmds,
            "secrets": _secret_refs("run_commands", secrets),
        }
        return self._extend(_Layer(spec, force_build))

    def run_function(
        self,
        raw_f: Callable[[], Any],
        *,
        secrets: Sequence[Any] = (),
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        force_build: bool = False,
        **unsupported: Any,
    ) -> Image:
        """Run a Python function at build time in the image (to download weights, say):
        whatever it writes (``/models``, ``~/.cache``) is in the image. The function is
        pickled by value; the layer rebuilds when its source code or arguments change (not
        when a global it reads changes: use ``force_build=True`` for that)."""
        _no_unknown("run_function", unsupported, set())
        if not callable(raw_f):
            raise InvalidError(f"Image.run_function({raw_f!r}): expected a function")
        payload = files.pickle_function(raw_f, tuple(args), dict(kwargs or {}))
        sha = hashlib.sha256(payload).hexdigest()
        spec = {
            "op": "run_function",
            "function": sha,
            "identity": files.function_identity(raw_f, tuple(args), dict(kwargs or {})),
            "name": getattr(raw_f, "__qualname__", repr(raw_f)),
            "secrets": _secret_refs("run_function", secrets),
        }
        return self._extend(_Layer(spec, force_build, blobs={sha: payload}))

    # -- environment ------------------------------------------------------------------------------

    def env(self, vars: Mapping[str, str], force_build: bool = False) -> Image:
        """Environment variables set in containers and in later build steps."""
        if not isinstance(vars, Mapping):
            raise InvalidError(f"Image.env({vars!r}): expected a dict of str to str")
        for k, v in vars.items():
            if not isinstance(k, str) or not _ENV_NAME.match(k):
                raise InvalidError(f"Image.env(): {k!r} is not a valid environment variable name")
            if not isinstance(v, str):
                raise InvalidError(f"Image.env(): the value of {k!r} must be a str, not {v!r}")
        if not vars:
            return self
        return self._extend(_Layer({"op": "env", "vars": dict(vars)}, force_build))

    def workdir(self, path: str | PurePosixPath, force_build: bool = False) -> Image:
        """The working directory of containers and later build steps (an absolute path)."""
        where = _remote_path("workdir", path)
        return self._extend(_Layer({"op": "workdir", "path": where}, force_build))

    # -- local files ------------------------------------------------------------------------------

    def add_local_file(
        self,
        local_path: str | Path,
        remote_path: str | PurePosixPath,
        *,
        copy: bool = False,
        force_build: bool = False,
    ) -> Image:
        """Place a local file at ``remote_path`` (ending in "/" puts it inside that directory)."""
        local = Path(local_path).expanduser()
        if not local.is_file():
            raise InvalidError(f"Image.add_local_file({str(local_path)!r}): no such local file")
        remote = str(remote_path)
        if remote.endswith("/"):
            remote = remote + local.name
        remote = _remote_path("add_local_file", remote)
        source = files.Source(local.resolve(), remote, is_dir=False)
        return self._extend(_Layer(_files_op("add_local_file", copy), force_build, (source,)))

    def add_local_dir(
        self,
        local_path: str | Path,
        remote_path: str | PurePosixPath,
        *,
        copy: bool = False,
        ignore: Sequence[str] | Callable[[Path], bool] = (),
        force_build: bool = False,
    ) -> Image:
        """Place a local directory's files under ``remote_path``. ``ignore``: glob patterns
        matched against paths relative to the directory, or a predicate on the path."""
        local = Path(local_path).expanduser()
        if not local.is_dir():
            raise InvalidError(f"Image.add_local_dir({str(local_path)!r}): no such local directory")
        remote = _remote_path("add_local_dir", remote_path)
        source = files.Source(local.resolve(), remote, is_dir=True, ignore=files.matcher(ignore))
        return self._extend(_Layer(_files_op("add_local_dir", copy), force_build, (source,)))

    def add_local_python_source(
        self, *modules: str, copy: bool = False, force_build: bool = False, ignore: Any = None
    ) -> Image:
        """Make local Python packages or modules importable in containers, by name: each is
        placed under ``/root`` (on ``sys.path`` there) as in Modal."""
        if not modules:
            raise InvalidError("Image.add_local_python_source() needs at least one module name")
        sources = tuple(files.python_source(name, ignore) for name in modules)
        spec = {
            **_files_op("add_local_python_source", copy),
            "python_path": files.PYTHON_SOURCE_ROOT,
        }
        return self._extend(_Layer(spec, force_build, sources))

    # -- helpers for user code -------------------------------------------------------------------

    @contextlib.contextmanager
    def imports(self) -> Iterator[None]:
        """``with image.imports(): import torch``: imports that only the container can do; outside
        a container an ImportError here is ignored (the names stay undefined)."""
        try:
            yield
        except ImportError:
            if os.environ.get("GW_CONTAINER_ID"):
                raise

    # -- the spec ---------------------------------------------------------------------------------

    @property
    def python_version(self) -> str:
        return str(self._layers[0].spec["python_version"])

    def to_spec(self) -> dict[str, Any]:
        """Plain data for the server: ``{"version", "layers": [...]}``. Hashes local files (once
        per file version), so call it at publish time, not per call."""
        return {"version": SPEC_VERSION, "layers": [layer.to_spec() for layer in self._layers]}

    @property
    def digest(self) -> str:
        """The content digest of the whole image (the last layer prefix's)."""
        return layer_digests(self.to_spec()["layers"])[-1]

    def uploads(self) -> dict[str, Path | bytes]:
        """The blobs the server needs, by sha256: local files (as paths, read when uploaded) and
        pickled build functions (as bytes)."""
        out: dict[str, Path | bytes] = {}
        for layer in self._layers:
            for src in layer.sources:
                for f in src.files():
                    out[f.sha256] = f.local
            out.update(layer.blobs)
        return out

    def _extend(self, layer: _Layer) -> Image:
        op = layer.spec["op"]
        if op not in _AFTER_MOUNTED_FILES:
            mounted = [x for x in self._layers if x.spec.get("copy") is False]
            if mounted:
                raise InvalidError(
                    f"Image.{op}() comes after {_describe(mounted[-1])}, whose files are placed"
                    " when a container starts, not built into the image: pass copy=True there to"
                    " build them in, or add the local files last"
                )
        return Image((*self._layers, layer))

    def __repr__(self) -> str:
        steps = [_describe(layer) for layer in self._layers]
        return "Image(" + ".".join(steps) + ")"


# steps that may follow files placed at container start: they build nothing
_AFTER_MOUNTED_FILES = {
    "env",
    "workdir",
    "add_local_file",
    "add_local_dir",
    "add_local_python_source",
}


def _files_op(op: str, copy: Any) -> dict[str, Any]:
    if not isinstance(copy, bool):
        raise InvalidError(f"Image.{op}(copy={copy!r}): expected True or False")
    return {"op": op, "copy": copy}


def _describe(layer: _Layer) -> str:
    spec, op = layer.spec, layer.spec["op"]
    if op == "base":
        return f"debian_slim(python_version={spec['python_version']!r})"
    args = spec.get("packages") or spec.get("commands") or []
    if op == "env":
        args = [dict(spec["vars"])]
    elif op == "workdir":
        args = [spec["path"]]
    elif op == "run_function":
        args = [spec["name"]]
    elif layer.sources:
        args = [src.remote for src in layer.sources]
    return f"{op}({', '.join(repr(a) for a in args)})"


def _python_version(value: str | None) -> str:
    if value is None:
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    if not isinstance(value, str) or not re.fullmatch(r"3\.\d{1,2}(\.\d{1,2})?", value):
        raise InvalidError(
            f"Image.debian_slim(python_version={value!r}): expected a version like '3.11' or"
            " '3.11.7'"
        )
    if tuple(int(p) for p in value.split(".")[:2]) < MIN_PYTHON:
        raise InvalidError(
            f"Image.debian_slim(python_version={value!r}): gworker's container runtime needs"
            f" Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or later"
        )
    return value


def _strings(method: str, values: tuple[str | Sequence[str], ...]) -> list[str]:
    """Flatten Modal-style arguments (strings, or lists of strings) and validate them."""
    out: list[str] = []
    for value in values:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise InvalidError(f"Image.{method}({value!r}): expected strings or lists of strings")
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise InvalidError(f"Image.{method}({item!r}): expected a non-empty string")
            out.append(item.strip())
    return out


def _remote_path(method: str, path: str | PurePosixPath) -> str:
    text = str(path)
    pure = PurePosixPath(text)
    if not pure.is_absolute() or ".." in pure.parts or pure == PurePosixPath("/"):
        raise InvalidError(
            f"Image.{method}({text!r}): expected an absolute path inside the container, such as"
            " '/app' or '/root/data'"
        )
    for reserved in _RESERVED:
        if pure == PurePosixPath(reserved) or pure.is_relative_to(reserved):
            raise InvalidError(f"Image.{method}({text!r}): {reserved} belongs to the kernel")
    return str(pure)


def _opt_str(method: str, key: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidError(f"Image.{method}({key}={value!r}): expected a string")


def _force(method: str, options: dict[str, Any]) -> bool:
    force = options.pop("force_build", False)
    if not isinstance(force, bool):
        raise InvalidError(f"Image.{method}(force_build={force!r}): expected True or False")
    return force


def _no_unknown(method: str, options: Mapping[str, Any], known: set[str]) -> None:
    for key in options:
        if key not in known:
            accepted = ", ".join(sorted(known | {"force_build"}))
            raise InvalidError(
                f"Image.{method}() got an unknown keyword argument {key!r} (accepted: {accepted})"
            )


def _secret_refs(method: str, secrets: Sequence[Any]) -> list[Any]:
    """Secrets go into the spec as references (``Secret._reference()``: a name, or an inline
    secret's keys), never values: the server resolves them for the build, and a new value does
    not rebuild the image."""
    refs = []
    for s in secrets or ():
        ref = getattr(s, "_reference", None)
        if ref is None:
            raise InvalidError(f"Image.{method}(secrets=[{s!r}]): expected gw.Secret objects")
        refs.append(ref())
    return refs


__all__ = ["Image", "layer_digests"]
