"""Code delivery: the app's entry module and the local Python sources it imports, as one zip.

The zip is deterministic (sorted names, fixed timestamps), so the same sources always give the
same content hash and are uploaded and stored once.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ._protocol.limits import MAX_CODE_BUNDLE_BYTES
from .exception import InvalidError

_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class CodeBundle:
    data: bytes
    digest: str
    files: tuple[str, ...]


def _module_relpath(module: ModuleType) -> Path:
    """Where an import of this module's name looks, relative to a sys.path entry."""
    parts = module.__name__.split(".")
    file = getattr(module, "__file__", None) or ""
    if file.endswith("__init__.py"):
        return Path(*parts, "__init__.py")
    return Path(*parts[:-1], parts[-1] + ".py")


def local_sources(entry: ModuleType, name: str) -> dict[str, Path]:
    """Map zip names to files: the entry module, imported as ``name``, and every loaded module
    that the same sys.path entry provides (the user's own packages, not installed ones)."""
    entry_file = Path(entry.__file__ or "").resolve()
    depth = len(name.split("."))
    root = entry_file.parents[depth - 1]
    files: dict[str, Path] = {Path(*name.split(".")).with_suffix(".py").as_posix(): entry_file}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py") or module is entry:
            continue
        rel = _module_relpath(module)
        if Path(path).resolve() == (root / rel).resolve():
            files[rel.as_posix()] = root / rel
    for name_in_zip in list(files):  # packages' __init__ files make their submodules importable
        for parent in Path(name_in_zip).parents:
            init = root / parent / "__init__.py"
            if parent != Path(".") and init.exists():
                files[(parent / "__init__.py").as_posix()] = init
    return files


def bundle(entry: ModuleType, name: str) -> CodeBundle:
    files = local_sources(entry, name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name].read_bytes())
    data = buf.getvalue()
    if len(data) > MAX_CODE_BUNDLE_BYTES:
        biggest = sorted(files, key=lambda n: files[n].stat().st_size)[-3:]
        raise InvalidError(
            f"the app's code bundle is {len(data)} bytes zipped; at most"
            f" {MAX_CODE_BUNDLE_BYTES} are accepted. Its largest files: {', '.join(biggest)}."
            " Put data in a Volume or an image (Image.add_local_file) instead"
        )
    return CodeBundle(data, hashlib.sha256(data).hexdigest(), tuple(sorted(files)))


def unpack(data: bytes, dest: Path) -> None:
    """Extract into ``dest`` atomically: concurrent containers may unpack the same bundle."""
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(tmp)
    try:
        os.rename(tmp, dest)
    except OSError:  # another container won the race
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def unpack_into(data: bytes, dest: Path) -> None:
    """Extract over what ``dest`` holds (a container's own ``/root``, which only it writes).
    A file the image placed there already (``add_local_python_source``, bound read-only) is left
    as it is when it holds the same bytes; a different one is replaced where it can be."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            content = zf.read(info)
            if target.is_file() and target.read_bytes() == content:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.write_bytes(content)
            except OSError as e:
                raise OSError(
                    e.errno,
                    f"the app's {info.filename} differs from the copy its image placed at"
                    f" {target}, which is read-only: leave it out of the image"
                    " (add_local_python_source) or set include_source=False",
                ) from None
