"""Local inputs of an image: files and directories to place in it, Python sources, requirements
files and build functions, each turned into content-addressed data.

Files are hashed lazily (at publish, not at definition) and once per file version: the digest memo
is keyed by path, size, mtime and inode, so re-publishing an unchanged project re-reads nothing.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exception import InvalidError

# Where add_local_python_source places packages in containers (Modal's choice), on sys.path there.
PYTHON_SOURCE_ROOT = "/root"
_HASH_MEMO: dict[tuple[str, int, int, int], str] = {}
_CHUNK = 1 << 20

Matcher = Callable[[str], bool]


@dataclass(frozen=True)
class LocalFile:
    local: Path
    remote: str
    sha256: str
    executable: bool

    def to_spec(self) -> dict[str, Any]:
        return {
            "path": self.remote,
            "sha256": self.sha256,
            "mode": 0o755 if self.executable else 0o644,
        }


@dataclass(frozen=True)
class Source:
    """A local file or directory to place at the absolute container path ``remote``."""

    local: Path
    remote: str
    is_dir: bool
    ignore: Matcher | None = None

    def files(self) -> list[LocalFile]:
        if not self.is_dir:
            return [_local_file(self.local, self.remote)]
        out = []
        for path in _walk(self.local):
            rel = path.relative_to(self.local).as_posix()
            if self.ignore is None or not self.ignore(rel):
                out.append(_local_file(path, f"{self.remote}/{rel}"))
        return out


def _walk(root: Path) -> list[Path]:
    """Regular files under ``root``, sorted; symlinks to files count, symlinked dirs do not (they
    can loop)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file():
                found.append(path)
    return sorted(found)


def _local_file(path: Path, remote: str) -> LocalFile:
    try:
        st = path.stat()
    except OSError as e:
        raise InvalidError(f"image file {str(path)!r} cannot be read: {e.strerror}") from None
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    digest = _HASH_MEMO.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        digest = _HASH_MEMO[key] = h.hexdigest()
    return LocalFile(path, remote, digest, bool(st.st_mode & 0o111))


def matcher(ignore: Sequence[str] | Callable[[Path], bool] | None) -> Matcher | None:
    """``ignore`` as a predicate on relative POSIX paths: glob patterns match the whole relative
    path, its file name, or a leading directory (``"data"`` ignores ``data/x``)."""
    if not ignore:
        return None
    if callable(ignore):
        predicate = ignore
        return lambda rel: bool(predicate(Path(rel)))
    if isinstance(ignore, str) or not all(isinstance(p, str) for p in ignore):
        raise InvalidError(f"ignore={ignore!r}: expected a list of glob patterns or a function")
    patterns = list(ignore)

    def match(rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
        for pat in patterns:
            pat = pat.rstrip("/")
            if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(parts[-1], pat):
                return True
            if any(fnmatch.fnmatch(prefix, pat) for prefix in prefixes):
                return True
        return False

    return match


def _python_only(rel: str) -> bool:
    return "__pycache__" in rel.split("/") or not rel.endswith(".py")


def python_source(name: str, ignore: Any = None) -> Source:
    """The local package or module ``name`` as a Source under PYTHON_SOURCE_ROOT."""
    method = f"Image.add_local_python_source({name!r})"
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidError(f"{method}: expected a top-level module name such as 'my_package'")
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        raise InvalidError(f"{method}: no Python source for a module {name!r} is importable here")
    origin = Path(spec.origin)
    if spec.submodule_search_locations:
        check = matcher(ignore) if ignore else _python_only
        return Source(origin.parent, f"{PYTHON_SOURCE_ROOT}/{name}", is_dir=True, ignore=check)
    if origin.suffix != ".py":
        raise InvalidError(f"{method}: {origin} is not Python source")
    return Source(origin, f"{PYTHON_SOURCE_ROOT}/{name}.py", is_dir=False)


def read_requirements(path: Path, method: str, _seen: frozenset[Path] = frozenset()) -> str:
    """The requirements file's text with ``-r`` includes inlined (the server sees only text)."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise InvalidError(f"Image.{method}({str(path)!r}): no such requirements file")
    if path in _seen:
        raise InvalidError(f"Image.{method}: {path} includes itself")
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        head, _, rest = line.partition(" ")
        if head in ("-r", "--requirement"):
            lines.append(read_requirements(path.parent / rest.strip(), method, _seen | {path}))
        elif head in ("-e", "--editable"):
            raise InvalidError(
                f"Image.{method}: {path} has {line!r}; editable installs of local paths are not"
                " supported in images: use Image.add_local_python_source(...) for local code"
            )
        else:
            lines.append(raw)
    return "\n".join(lines)


def pickle_function(f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """Pickle a build function by value when it comes from the user's own code (the image's build
    cannot import the user's modules); functions from installed packages stay references."""
    import cloudpickle

    module = sys.modules.get(getattr(f, "__module__", "") or "")
    by_value = module is not None and module.__name__ != "__main__" and _is_local(module)
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps((f, args, kwargs), protocol=4)
    except Exception as e:
        raise InvalidError(f"Image.run_function({f!r}): cannot pickle the function: {e}") from e
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def function_identity(f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A digest of what a build function is: its name, source and arguments. Not its pickle,
    whose bytes change between processes (hash-seeded set and dict orders)."""
    try:
        source = inspect.getsource(f)
    except (OSError, TypeError):
        code = getattr(f, "__code__", None)
        source = repr((code.co_code, code.co_consts)) if code else repr(f)
    name = f"{getattr(f, '__module__', '')}.{getattr(f, '__qualname__', '')}"
    text = "\0".join([name, source, repr(args), repr(sorted(kwargs.items()))])
    return hashlib.sha256(text.encode()).hexdigest()


def _is_local(module: Any) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    parts = Path(file).resolve().parts
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    stdlib = Path(sys.base_prefix).resolve() / "lib"
    return not Path(file).resolve().is_relative_to(stdlib)
