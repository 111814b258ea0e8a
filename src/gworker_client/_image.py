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
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from . import _image_files as files
from ._aio import Operation, blocking
from ._image_args import (
    _build_args,
    _context_source,
    _files_op,
    _force,
    _foreign_python,
    _no_unknown,
    _opt_str,
    _python_version,
    _remote_path,
    _secret_refs,
    _strings,
)
from ._image_layer import AFTER_MOUNTED_FILES, Layer, describe, in_container
from ._protocol.image import SPEC_VERSION, layer_digests
from .exception import InvalidError

_APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.\-]+(:[a-z0-9]+)?([=<>]{1,2}[A-Za-z0-9.+~:\-]+)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OCI_HELP = (
    "is not supported by this version yet (no cloud registry token exchange): pull the image with"
    " Image.from_registry(tag, secret=gw.Secret.from_dict({'REGISTRY_USERNAME': ...,"
    " 'REGISTRY_PASSWORD': ...})) using a token from your cloud's CLI"
)


class Image:
    """A container image: a base Python plus packages, files, environment and build commands.

    Start from ``Image.debian_slim()`` and chain builder methods; each returns a new image::

        image = gw.Image.debian_slim(python_version="3.11").pip_install("numpy").env({"A": "1"})
    """

    def __init__(self, _layers: tuple[Layer, ...]) -> None:
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
        return Image((Layer({"op": "base", "python_version": version}, force_build),))

    @staticmethod
    def from_registry(
        tag: str,
        secret: Any = None,
        *,
        add_python: str | None = None,
        setup_dockerfile_commands: Sequence[str] = (),
        force_build: bool = False,
        **unsupported: Any,
    ) -> Image:
        """An image from an OCI registry (``"python:3.11-slim"``, ``"host:5000/team/app:1"``),
        pulled by the server; ``secret`` holds ``REGISTRY_USERNAME`` and ``REGISTRY_PASSWORD``.
        Its own Python (3.10 or later, ``python3`` on PATH) runs the functions, or, with
        ``add_python="3.11"``, one the server places."""
        _no_unknown("from_registry", unsupported, {"add_python", "setup_dockerfile_commands"})
        if not isinstance(tag, str) or not tag.strip() or any(c.isspace() for c in tag.strip()):
            raise InvalidError(f"Image.from_registry({tag!r}): expected an image reference")
        spec = {
            "op": "base",
            "registry": tag.strip(),
            **_foreign_python("from_registry", add_python),
            "secrets": _secret_refs("from_registry", [secret] if secret is not None else []),
        }
        image = Image((Layer(spec, force_build),))
        if setup_dockerfile_commands:
            image = image.dockerfile_commands(list(setup_dockerfile_commands))
        return image

    @staticmethod
    def from_dockerfile(
        path: str | Path,
        context_dir: str | Path | None = None,
        *,
        secrets: Sequence[Any] = (),
        build_args: Mapping[str, str] | None = None,
        add_python: str | None = None,
        force_build: bool = False,
        **unsupported: Any,
    ) -> Image:
        """An image built from a Dockerfile (single stage: FROM, RUN, COPY, ADD, ENV, WORKDIR,
        ARG, USER, SHELL; anything else is refused naming it). COPY sources are relative to
        ``context_dir`` (default: the Dockerfile's directory), whose files, less those its
        ``.dockerignore`` excludes, are uploaded."""
        _no_unknown("from_dockerfile", unsupported, {"secrets", "build_args", "add_python"})
        dockerfile = Path(path).expanduser()
        if not dockerfile.is_file() and os.environ.get("GW_CONTAINER_ID"):
            # a container imports the app's module, image definitions included; its image was
            # built at publish, from files that need not exist here
            return Image((Layer({"op": "base", "dockerfile": "", **_foreign_python("", None)}),))
        if not dockerfile.is_file():
            raise InvalidError(f"Image.from_dockerfile({str(path)!r}): no such file")
        context = Path(context_dir).expanduser() if context_dir else dockerfile.parent
        spec = {
            "op": "base",
            "dockerfile": dockerfile.read_text(),
            "build_args": _build_args("from_dockerfile", build_args),
            **_foreign_python("from_dockerfile", add_python),
            "secrets": _secret_refs("from_dockerfile", secrets),
        }
        sources = (_context_source("from_dockerfile", context),)
        return Image((Layer(spec, force_build, sources),))

    @Operation
    def from_id(image_id: str) -> Image:
        """The image with this id: a sandbox's filesystem snapshot
        (``Sandbox.snapshot_filesystem()``; its ``object_id``), looked up on the server. Raises
        NotFoundError if there is none."""
        from . import _api

        if not isinstance(image_id, str) or not image_id.startswith("im-"):
            raise InvalidError(f"Image.from_id({image_id!r}): expected an id like 'im-...'")
        info = _api.client().get(f"/v1/images/{quote(image_id, safe='')}")
        return Image._snapshot(info["image_id"], info["python_version"])

    @staticmethod
    def _snapshot(image_id: str, python_version: str) -> Image:
        """A filesystem snapshot taken on the server, by id (its layers are stored there)."""
        minor = ".".join(python_version.split(".")[:2])
        spec = {"op": "base", "snapshot": image_id.removeprefix("im-"), "python_version": minor}
        return Image((Layer(spec),))

    @property
    def object_id(self) -> str:
        """The image's id. Filesystem snapshots have one (``im-...``, for ``Image.from_id``);
        an image defined in code is found again by its definition and has none."""
        spec = self._layers[0].spec
        if "snapshot" not in spec or len(self._layers) > 1:
            raise InvalidError(
                f"{self!r} has no id: only filesystem snapshots (Sandbox.snapshot_filesystem())"
                " have one; an image defined in code is the same image wherever it is used"
            )
        return f"im-{spec['snapshot']}"

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

    def dockerfile_commands(
        self,
        *commands: str | Sequence[str],
        context_dir: str | Path | None = None,
        secrets: Sequence[Any] = (),
        build_args: Mapping[str, str] | None = None,
        gpu: Any = None,
        force_build: bool = False,
    ) -> Image:
        """Dockerfile lines (RUN, COPY, ADD, ENV, WORKDIR, ARG, USER, SHELL) over this image;
        COPY sources are relative to ``context_dir``."""
        lines = _strings("dockerfile_commands", commands)
        if gpu is not None:
            raise InvalidError("Image.dockerfile_commands(gpu=...) is not supported yet")
        if not lines:
            return self
        spec = {
            "op": "dockerfile_commands",
            "commands": lines,
            "build_args": _build_args("dockerfile_commands", build_args),
            "secrets": _secret_refs("dockerfile_commands", secrets),
        }
        sources: tuple[files.Source, ...] = ()
        if context_dir is not None:
            sources = (_context_source("dockerfile_commands", Path(context_dir).expanduser()),)
        return self._extend(Layer(spec, force_build, sources))

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
        return self._extend(Layer(spec, force))

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
        return self._extend(Layer({"op": "apt_install", "packages": pkgs}, force_build))

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
        return self._extend(Layer(spec, force_build))

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
        return self._extend(Layer(spec, force_build, blobs={sha: payload}))

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
        return self._extend(Layer({"op": "env", "vars": dict(vars)}, force_build))

    def workdir(self, path: str | PurePosixPath, force_build: bool = False) -> Image:
        """The working directory of containers and later build steps (an absolute path)."""
        where = _remote_path("workdir", path)
        return self._extend(Layer({"op": "workdir", "path": where}, force_build))

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
        if not local.is_file() and not in_container():
            raise InvalidError(f"Image.add_local_file({str(local_path)!r}): no such local file")
        remote = str(remote_path)
        if remote.endswith("/"):
            remote = remote + local.name
        remote = _remote_path("add_local_file", remote)
        source = files.Source(local.resolve(), remote, is_dir=False)
        return self._extend(Layer(_files_op("add_local_file", copy), force_build, (source,)))

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
        if not local.is_dir() and not in_container():
            raise InvalidError(f"Image.add_local_dir({str(local_path)!r}): no such local directory")
        remote = _remote_path("add_local_dir", remote_path)
        source = files.Source(local.resolve(), remote, is_dir=True, ignore=files.matcher(ignore))
        return self._extend(Layer(_files_op("add_local_dir", copy), force_build, (source,)))

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
        return self._extend(Layer(spec, force_build, sources))

    # -- what user code and the spec read ---------------------------------------------------------

    @contextlib.contextmanager
    def imports(self) -> Iterator[None]:
        """``with image.imports(): import torch``: imports that only the container can do; outside
        a container an ImportError here is ignored (the names stay undefined)."""
        try:
            yield
        except ImportError:
            if os.environ.get("GW_CONTAINER_ID"):
                raise

    @blocking
    def build(self, app: Any) -> Image:
        """Build the image now, under ``app`` (Modal's ``Image.build(app)``): the app must be
        running (``app.run()``) or looked up (``App.lookup(name, create_if_missing=True)``).
        Later uses (functions, ``Sandbox.create(image=...)``) find it built. Returns the image."""
        from . import _api
        from ._build import build_images

        app_id = getattr(app, "app_id", None)
        if not isinstance(app_id, str):
            raise InvalidError(
                f"Image.build({app!r}): expected an App that is running (inside `with"
                " app.run():`) or looked up with gw.App.lookup(name, create_if_missing=True)"
            )
        build_images(_api.client(), app_id, {"image": self})
        return self

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

    def _extend(self, layer: Layer) -> Image:
        op = layer.spec["op"]
        if op not in AFTER_MOUNTED_FILES:
            mounted = [x for x in self._layers if x.spec.get("copy") is False]
            if mounted:
                raise InvalidError(
                    f"Image.{op}() comes after {describe(mounted[-1])}, whose files are placed"
                    " when a container starts, not built into the image: pass copy=True there to"
                    " build them in, or add the local files last"
                )
        return Image((*self._layers, layer))

    def __repr__(self) -> str:
        steps = [describe(layer) for layer in self._layers]
        return "Image(" + ".".join(steps) + ")"


__all__ = ["Image", "layer_digests"]
