"""``ImageBuilder``: turns an image spec into a ``BuiltImage``, building only what is not cached.

The cache is content-addressed by layer prefix. Layer ``i``'s key hashes the SDK's digest of
layers ``0..i`` (``gworker_client._protocol.layer_digests``) with what else decides the result:
the exact interpreter and the gworker runtime's digest. A key's record (``layers/<key>.json``) is
written only after its layer built completely, so the same spec never builds twice, a change
rebuilds from the first changed layer on, and a crash mid-build leaves nothing half-made in use.
Builds of one key are serialized across threads and processes by a file lock; ``force_build``
rebuilds a layer (and everything after it) into a new snapshot directory.

uv comes from the ``uv`` package (a dependency); its cache lives under the builder's root by
default, on the same filesystem as the snapshots, so installs are hard links from it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gworker_client._protocol.image import SPEC_VERSION, layer_digests

from . import interpreters, runtime, snapshots, steps
from .blobs import BlobCache
from .built import BuiltImage
from .errors import BuildError
from .pipconfig import uv_index_env

BUILDER_VERSION = 1
Log = Callable[[str], None]
_METADATA_OPS = {"env", "workdir", "apt_install"}  # steps that write no files
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
    "add_local_file",
    "add_local_dir",
    "add_local_python_source",
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
        self.root.mkdir(parents=True, exist_ok=True)
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
        digests = layer_digests(layers)
        interp = interpreters.find(layers[0]["python_version"])
        runtime_digest = runtime.fingerprint()
        keys = [_key(d, interp, runtime_digest) for d in digests]
        start = self._first_to_build(layers, keys)
        if start == len(layers):
            return self._load(keys[-1])
        began = time.monotonic()
        log(f"Building image {digests[-1][:12]} ({len(layers)} layers, Python {interp.version})")
        ctx = self._context(log)
        image = self._load(keys[start - 1]) if start else None
        for i, layer in enumerate(layers):
            if i < start:
                log(f"[{i + 1}/{len(layers)}] {_title(layer)}: cached")
                continue
            image = self._layer(ctx, i, layers, keys[i], digests[i], image, interp, runtime_digest)
        log(f"Image {digests[-1][:12]} ready in {time.monotonic() - began:.1f}s")
        assert image is not None
        return image

    def cached(self, spec: Mapping[str, Any]) -> BuiltImage | None:
        """The built image if it is in the cache, without building anything."""
        layers = _validate(spec)
        interp = interpreters.find(layers[0]["python_version"])
        key = _key(layer_digests(layers)[-1], interp, runtime.fingerprint())
        return self._load(key) if self._record(key).exists() else None

    # -- one layer -------------------------------------------------------------------------------

    def _layer(
        self,
        ctx: steps.Context,
        i: int,
        layers: Sequence[Mapping[str, Any]],
        key: str,
        digest: str,
        prev: BuiltImage | None,
        interp: interpreters.Interpreter,
        runtime_digest: str,
    ) -> BuiltImage:
        layer, n = layers[i], len(layers)
        with self._lock(key):
            if self._record(key).exists() and not _forced(layers, i):
                ctx.log(f"[{i + 1}/{n}] {_title(layer)}: cached (built concurrently)")
                return self._load(key)
            ctx.log(f"[{i + 1}/{n}] {_title(layer)}")
            began = time.monotonic()
            try:
                image = self._step(ctx, layer, key, prev, interp, runtime_digest)
            except BuildError as e:
                where = f"image build failed at step {i + 1}/{n} ({_title(layer)})"
                raise type(e)(f"{where}: {e}") from None
            image = image.with_changes(digest=digest)
            self._save(key, image)
            ctx.log(f"[{i + 1}/{n}] done in {time.monotonic() - began:.1f}s")
            return image

    def _step(
        self,
        ctx: steps.Context,
        layer: Mapping[str, Any],
        key: str,
        prev: BuiltImage | None,
        interp: interpreters.Interpreter,
        runtime_digest: str,
    ) -> BuiltImage:
        """Run one layer's step, in a new snapshot directory unless it only changes metadata."""
        if prev is not None and layer["op"] in _METADATA_OPS:
            return _apply(ctx, prev, layer, None)
        snap = snapshots.create(self.root, key)
        try:
            if prev is None:
                runtime_dir = runtime.ensure(self.root, interp, runtime_digest, ctx.uv, ctx.uv_env)
                return steps.base(ctx, snap, interp, runtime_dir, "")
            return _apply(ctx, prev, layer, snap)
        except BaseException:
            snapshots.remove(snap)
            raise

    def _first_to_build(self, layers: Sequence[Mapping[str, Any]], keys: list[str]) -> int:
        for i, key in enumerate(keys):
            if layers[i].get("force_build") or not self._record(key).exists():
                return i
        return len(keys)

    def _context(self, log: Log) -> steps.Context:
        uv_env = {
            **os.environ,
            "UV_CACHE_DIR": str(self.uv_cache),
            "UV_PYTHON_DOWNLOADS": "never",
            **uv_index_env(),
        }
        uv_env.pop("VIRTUAL_ENV", None)
        return steps.Context(
            uv=self.uv,
            uv_env=uv_env,
            blobs=self.blobs,
            tool_mounts=steps.tool_mounts(self.root, self.uv),
            log=log,
            secret_env=self.secret_env,
        )

    # -- records and locks -----------------------------------------------------------------------

    def _record(self, key: str) -> Path:
        return self.root / "layers" / f"{key}.json"

    def _load(self, key: str) -> BuiltImage:
        return BuiltImage.from_json(self._record(key).read_text())

    def _save(self, key: str, image: BuiltImage) -> None:
        path = self._record(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(image.to_json())
        os.replace(tmp, path)

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


def _apply(
    ctx: steps.Context, prev: BuiltImage, layer: Mapping[str, Any], snap: Path | None
) -> BuiltImage:
    op = layer["op"]
    if op == "apt_install":
        return steps.apt_install(ctx, prev, layer)
    if op == "env":
        return prev.with_changes(env={**prev.env, **layer["vars"]})
    if op == "workdir":
        return prev.with_changes(workdir=layer["path"])
    assert snap is not None
    if op in ("pip_install", "uv_pip_install", "pip_install_from_requirements"):
        return steps.pip_install(ctx, prev, layer, snap)
    if op == "run_commands":
        return steps.run_commands(ctx, prev, layer, snap)
    if op == "run_function":
        return steps.run_function(ctx, prev, layer, snap)
    if op in ("add_local_file", "add_local_dir", "add_local_python_source"):
        return steps.add_files(ctx, prev, layer, snap)
    raise BuildError(f"unknown image step {op!r}")


def _forced(layers: Sequence[Mapping[str, Any]], i: int) -> bool:
    """A layer rebuilds when it, or any layer before it, is forced."""
    return any(layer.get("force_build") for layer in layers[: i + 1])


def _key(digest: str, interp: interpreters.Interpreter, runtime_digest: str) -> str:
    text = f"{BUILDER_VERSION}|{interp.executable}|{interp.version}|{runtime_digest}|{digest}"
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
    if op == "base":
        return f"Python {layer['python_version']} with the gworker runtime"
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
