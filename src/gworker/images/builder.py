"""``ImageBuilder``: turns an image spec into a ``BuiltImage``, building only what is not cached.

An image is the Debian base layer (``debian.py``, once per machine, imported by hard links), its
Python's layer (``pythons.py``), then one layer per build step that writes files. Step ``i``'s
key hashes the base, the Python layer and the SDK's digest of the build steps ``0..i``
(``layer_digests`` over the spec without the run-time files of ``add_local_*(copy=False)``, so
editing those never rebuilds). The key names the step's layer and the image record after it
(``LayerStore``); both are written only once the step succeeded, so the same spec never builds
twice, a change rebuilds from the first changed step on, and a failed or interrupted step leaves
nothing a later build reuses. ``env`` and ``workdir`` write no layer: they change the config.
Builds of one key are serialized across threads and processes by a file lock; a forced step gets
a layer of its own (a fresh digest), never replacing one that containers may be using.

Files added without ``copy=True`` are not in any layer: they are hard links in a tree per file
set (``files/<digest>``) that containers get bound read-only at start.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gworker_client._protocol.image import SPEC_VERSION, layer_digests

from . import debian, foreign, gc, interpreters, pythons, runtime, steps
from .blobs import BlobCache
from .built import BuiltImage
from .errors import BuildError
from .layers import ImageConfig, ImageRecord, LayerStore, remove_tree
from .pipconfig import uv_index_env

BUILDER_VERSION = 2
Log = Callable[[str], None]
_FILE_OPS = {"add_local_file", "add_local_dir", "add_local_python_source"}
_OPS = {
    "base",
    "pip_install",
    "uv_pip_install",
    "pip_install_from_requirements",
    "apt_install",
    "run_commands",
    "run_function",
    "env",
    "workdir",
    "dockerfile_commands",
    *_FILE_OPS,
}


def _ignore(line: str) -> None:
    pass


def uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise BuildError("uv is not installed: `pip install uv` (gworker depends on it)")


class ImageBuilder:
    def __init__(
        self,
        cache_root: Path,
        blob_fetch: Callable[[str], bytes],
        *,
        uv_cache: Path | None = None,
        secret_env: steps.SecretEnv | None = None,
    ) -> None:
        self.root = cache_root
        self.store = LayerStore(cache_root)
        self.uv = uv_binary()
        # uv's own download cache (shared with the user's other uv use) unless told otherwise
        self.uv_cache = uv_cache or Path(
            os.environ.get("UV_CACHE_DIR") or Path.home() / ".cache" / "uv"
        )
        self.blobs = BlobCache(cache_root / "blobs", blob_fetch)
        self.secret_env = secret_env

    def build(self, spec: Mapping[str, Any], log: Log = _ignore) -> BuiltImage:
        """Build (or find) the image; ``log`` receives the build's output line by line."""
        layers = _validate(spec)
        built_steps = [x for x in layers if not _mounted(x)]
        digests = layer_digests(built_steps)
        base, python_layer = self._identity(built_steps[0], log)
        keys = [_key(base, python_layer, d) for d in digests]
        start = self._first_to_build(built_steps, keys)
        if start < len(built_steps):
            began = time.monotonic()
            n = len(built_steps)
            log(f"Building image {digests[-1][:12]} ({n} steps)")
            for i in range(start):
                log(f"[{i + 1}/{n}] {_title(built_steps[i])}: cached")
            for i in range(start, n):
                self._step(i, built_steps, keys, log)
            log(f"Image {digests[-1][:12]} ready in {time.monotonic() - began:.1f}s")
        record = self.store.image(keys[-1])
        assert record is not None
        gc.touch(self.store, record.key)
        host = self._host_python(record)
        runtime_dir = runtime.ensure(self.root, host, runtime.fingerprint(), self.uv)
        return self._image(record, runtime_dir, layers)

    def cached(self, spec: Mapping[str, Any]) -> BuiltImage | None:
        """The built image if it is in the cache, without building anything."""
        layers = _validate(spec)
        built_steps = [x for x in layers if not _mounted(x)]
        if not _foreign(built_steps[0]) and not self.store.has(debian.base_key(debian.release())):
            return None
        base, python_layer = self._identity(built_steps[0], _ignore)
        key = _key(base, python_layer, layer_digests(built_steps)[-1])
        if self.store.image(key) is None or any(x.get("force_build") for x in built_steps):
            return None
        return self.build(spec)

    def from_record(self, record: ImageRecord, spec: Mapping[str, Any]) -> BuiltImage:
        """The image of ``spec`` whose layers ``record`` lists, with nothing built: for a store
        that received them (``transfer.ensure_local``)."""
        layers = _validate(spec)
        minor = ".".join(record.config.python_version.split(".")[:2])
        runtime_dir = runtime.ensure(
            self.root, interpreters.find(minor), runtime.fingerprint(), self.uv
        )
        return self._image(record, runtime_dir, layers)

    def _identity(self, layer: Mapping[str, Any], log: Log) -> tuple[str, str]:
        """What besides the spec decides the layers: the base and the Python layer (a registry
        or Dockerfile image: its spec alone)."""
        if _foreign(layer):
            return "foreign", ""
        base, python = self._base(layer, log)
        return base, python.layer

    # -- the base ------------------------------------------------------------------------------

    def _base(self, layer: Mapping[str, Any], log: Log) -> tuple[str, pythons.ImagePython]:
        tree, base = debian.ensure_base(log)
        with self._lock(base):  # one import per store, however many builds start at once
            if not self.store.has(base):
                began = time.monotonic()
                self.store.import_tree(tree, base, f"debian {debian.release()} base")
                log(
                    f"Debian base imported into this image store in {time.monotonic() - began:.1f}s"
                )
            python = pythons.ensure(self.store, tree, base, layer["python_version"])
        return base, python

    # -- one step ------------------------------------------------------------------------------

    def _step(self, i: int, layers: Sequence[Mapping[str, Any]], keys: list[str], log: Log) -> None:
        layer, n, key = layers[i], len(layers), keys[i]
        with self._lock(key):
            forced = any(x.get("force_build") for x in layers[: i + 1])
            if self.store.image(key) is not None and not forced:
                log(f"[{i + 1}/{n}] {_title(layer)}: cached (built concurrently)")
                return
            log(f"[{i + 1}/{n}] {_title(layer)}")
            began = time.monotonic()
            prev = self.store.image(keys[i - 1]) if i else None
            try:
                record = self._run(layer, key, prev, forced, log)
            except BuildError as e:
                where = f"image build failed at step {i + 1}/{n} ({_title(layer)})"
                raise type(e)(f"{where}: {e}") from None
            except OSError as e:  # the disk, mostly: nothing of the step is kept
                where = f"image build failed at step {i + 1}/{n} ({_title(layer)})"
                raise BuildError(f"{where}: {e}") from None
            self.store.save_image(record)
            log(f"[{i + 1}/{n}] done in {time.monotonic() - began:.1f}s")

    def _run(
        self,
        layer: Mapping[str, Any],
        key: str,
        prev: ImageRecord | None,
        forced: bool,
        log: Log,
    ) -> ImageRecord:
        op = layer["op"]
        if prev is None and "snapshot" in layer:
            return _snapshot_base(self.store, layer, key)
        if prev is None and _foreign(layer):
            return foreign.base(self, layer, key, log)
        if op == "dockerfile_commands":
            assert prev is not None
            return foreign.commands(self, layer, key, prev, log)
        if prev is None:  # the base step: Debian and the Python
            base, python = self._base(layer, log)
            config = ImageConfig(
                python=pythons.PYTHON, python_version=python.version, env=python.environ()
            )
            return ImageRecord(key, (base, python.layer), config)
        if op == "env":
            env = {**prev.config.env, **layer["vars"]}
            return ImageRecord(key, prev.layers, _config(prev, env=env))
        if op == "workdir":
            return ImageRecord(key, prev.layers, _config(prev, workdir=layer["path"]))
        digest = hashlib.sha256(f"{key}|{uuid.uuid4()}".encode()).hexdigest() if forced else key
        ctx = self._context(log)
        runtime_dir = runtime.ensure(
            self.root, self._host_python(prev), runtime.fingerprint(), self.uv
        )
        image = self._image(prev, runtime_dir, [])
        with self.store.making(digest, f"{op}: {_title(layer)}") as upper:
            if op in _FILE_OPS:
                steps.copy_files(ctx, layer, upper)
            elif op == "apt_install":
                steps.apt_install(ctx, image, layer, upper)
            elif op == "run_commands":
                steps.run_commands(ctx, image, layer, upper)
            elif op == "run_function":
                steps.run_function(ctx, image, layer, upper)
            else:
                steps.pip_install(ctx, image, layer, upper)
        return ImageRecord(key, (*prev.layers, digest), prev.config)

    def _host_python(self, record: ImageRecord) -> interpreters.Interpreter:
        minor = ".".join(record.config.python_version.split(".")[:2])
        return interpreters.find(minor)

    def _context(self, log: Log) -> steps.Context:
        return steps.Context(
            store=self.store,
            uv=self.uv,
            uv_cache=self.uv_cache,
            index_env=uv_index_env(),
            blobs=self.blobs,
            tools=steps.tools_dir(self.root),
            log=log,
            secret_env=self.secret_env,
        )

    # -- images --------------------------------------------------------------------------------

    def _image(
        self, record: ImageRecord, runtime_dir: Path, layers: Sequence[Mapping[str, Any]]
    ) -> BuiltImage:
        files, python_path = self._mounted_files(layers)
        digest = layer_digests(layers)[-1] if layers else record.key
        return BuiltImage(
            digest=digest,
            key=record.key,
            layers_dir=self.root / "layers",
            layers=record.layers,
            python=record.config.python,
            python_version=record.config.python_version,
            runtime=runtime_dir,
            env=record.config.env,
            workdir=record.config.workdir,
            files=files,
            python_path=python_path,
        )

    def _mounted_files(
        self, layers: Sequence[Mapping[str, Any]]
    ) -> tuple[dict[str, Path], tuple[str, ...]]:
        """The run-time files (``add_local_*`` without copy): one hard-link tree per file set."""
        mounted = [x for x in layers if _mounted(x)]
        python_path = tuple(
            dict.fromkeys(x["python_path"] for x in layers if x.get("python_path")).keys()
        )
        if not mounted:
            return {}, python_path
        text = json.dumps([[x.get("files"), x.get("roots")] for x in mounted], sort_keys=True)
        tree = self.root / "files" / hashlib.sha256(text.encode()).hexdigest()
        roots = steps.outermost({r for x in mounted for r in x.get("roots", [])})
        if not tree.exists():
            tmp = tree.with_name(f".{tree.name}.{uuid.uuid4().hex[:8]}")
            try:
                for x in mounted:
                    for root in x.get("roots", []):
                        (tmp / root.lstrip("/")).mkdir(parents=True, exist_ok=True, mode=0o755)
                    for entry in x.get("files", []):
                        blob = self.blobs.path(entry["sha256"], entry["mode"])
                        steps.place(tmp, entry["path"], blob)
                tmp.mkdir(parents=True, exist_ok=True)
                os.rename(tmp, tree)
            except OSError:
                remove_tree(tmp)
                if not tree.exists():
                    raise
        return {root: tree / root.lstrip("/") for root in roots}, python_path

    def _first_to_build(self, layers: Sequence[Mapping[str, Any]], keys: list[str]) -> int:
        for i, key in enumerate(keys):
            if layers[i].get("force_build") or self.store.image(key) is None:
                return i
        return len(keys)

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        path = self.root / "locks" / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _config(prev: ImageRecord, **changes: Any) -> ImageConfig:
    return dataclasses.replace(prev.config, **changes)


def _foreign(layer: Mapping[str, Any]) -> bool:
    """A base from a registry, a Dockerfile or a sandbox's snapshot, not Debian built here."""
    return "registry" in layer or "dockerfile" in layer or "snapshot" in layer


def _snapshot_base(store: LayerStore, layer: Mapping[str, Any], key: str) -> ImageRecord:
    """A sandbox's filesystem snapshot as a base: its layers, shared (``snapshot.py``)."""
    snap = layer["snapshot"]
    # a spec comes from a client: only a key's form may become a path in the store
    valid = isinstance(snap, str) and len(snap) == 64 and not snap.strip("0123456789abcdef")
    found = store.image(snap) if valid else None
    if found is None or found.origin != "snapshot":
        raise BuildError(
            f"no filesystem snapshot im-{snap} in this server's image store (removed with"
            " `gw image rm`?): take one with Sandbox.snapshot_filesystem()"
        )
    return ImageRecord(key, found.layers, found.config)


def _mounted(layer: Mapping[str, Any]) -> bool:
    """Files added without ``copy=True``: placed when a container starts, in no layer."""
    return layer["op"] in _FILE_OPS and not layer.get("copy")


def _key(base: str, python: str, digest: str) -> str:
    text = f"{BUILDER_VERSION}|{base}|{python}|{digest}"
    return hashlib.sha256(text.encode()).hexdigest()


def _validate(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if not isinstance(spec, Mapping) or spec.get("version") != SPEC_VERSION:
        raise BuildError(f"unsupported image spec (expected version {SPEC_VERSION}): {spec!r:.200}")
    layers = spec.get("layers")
    if not isinstance(layers, list) or not layers or layers[0].get("op") != "base":
        raise BuildError("an image spec starts with its base layer")
    for layer in layers:
        if not isinstance(layer, Mapping) or layer.get("op") not in _OPS:
            raise BuildError(f"unknown image step in spec: {layer!r:.200}")
    return layers


def _title(layer: Mapping[str, Any]) -> str:
    op = layer["op"]
    if op == "base" and "registry" in layer:
        return f"from_registry {layer['registry']}"
    if op == "base" and "dockerfile" in layer:
        return "from_dockerfile"
    if op == "base" and "snapshot" in layer:
        return f"filesystem snapshot im-{layer['snapshot']}"
    if op == "base":
        return f"Debian with Python {layer['python_version']}"
    if op == "dockerfile_commands":
        return "dockerfile_commands " + " && ".join(layer.get("commands") or [])
    detail = {
        "pip_install": " ".join(layer.get("packages") or []) or "-r requirements",
        "apt_install": " ".join(layer.get("packages") or []),
        "run_commands": " && ".join(layer.get("commands") or []),
        "run_function": layer.get("name", ""),
        "env": " ".join(sorted(layer.get("vars", {}))),
        "workdir": layer.get("path", ""),
    }.get(op.replace("uv_", "").replace("_from_requirements", ""), "")
    if not detail and "roots" in layer:
        detail = " ".join(layer["roots"])
    return f"{op} {detail}".strip()
