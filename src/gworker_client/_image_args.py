"""Checks of ``Image``'s builder arguments: each names the method, the bad value and what is
accepted, at definition (``_image.py`` builds the layers from what they return)."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from . import _image_files as files
from ._protocol.dockerignore import DockerIgnore
from .exception import InvalidError

MIN_PYTHON = (3, 10)
# Paths no image may place files at, on any backend: the kernel's own filesystems.
_RESERVED = ("/proc", "/sys", "/dev")


def _foreign_python(method: str, add_python: Any) -> dict[str, Any]:
    if add_python is None:
        # the image's own Python; the local one is the best guess for pickling until it is built
        return {"add_python": None, "python_version": _python_version(None)}
    if not isinstance(add_python, str) or not re.fullmatch(r"3\.\d{1,2}(\.\d{1,2})?", add_python):
        raise InvalidError(
            f"Image.{method}(add_python={add_python!r}): expected a version like '3.11'"
        )
    return {"add_python": add_python, "python_version": _python_version(add_python)}


def _build_args(method: str, args: Any) -> dict[str, str]:
    if args is None:
        return {}
    if not isinstance(args, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in args.items()
    ):
        raise InvalidError(f"Image.{method}(build_args={args!r}): expected a dict of str to str")
    return dict(args)


def _context_source(method: str, context: Path) -> files.Source:
    """A Docker build context: its files less what its .dockerignore excludes, at /context."""
    if not context.is_dir():
        raise InvalidError(f"Image.{method}(context_dir={str(context)!r}): no such directory")
    ignore = DockerIgnore.from_dir(context)
    return files.Source(context.resolve(), "/context", is_dir=True, ignore=ignore.ignored)


def _files_op(op: str, copy: Any) -> dict[str, Any]:
    if not isinstance(copy, bool):
        raise InvalidError(f"Image.{op}(copy={copy!r}): expected True or False")
    return {"op": op, "copy": copy}


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
