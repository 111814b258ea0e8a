"""Showing Dict and Queue values on the operator's machine without running anyone's code.

Values are pickles written by whatever ran in a container; unpickling one can run arbitrary code.
The CLI therefore unpickles only plain data (str, bytes, numbers, bool, None, and lists, tuples,
sets and dicts of those) with an unpickler that refuses every class and function, and otherwise
shows the pickled type and size. ``--unsafe-unpickle`` opts in to a full unpickle.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from typing import Any

import click

from gworker_client import exception as exc
from gworker_client._serialization import deserialize

from ._common import console

# Constructors older pickle protocols name for plain containers and numbers: harmless to call.
ALLOWED = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "complex"),
    ("__builtin__", "set"),
    ("__builtin__", "frozenset"),
}

unsafe_option = click.option(
    "--unsafe-unpickle",
    "unsafe",
    is_flag=True,
    help="Unpickle any value here (runs code from whoever wrote it: only for values you trust).",
)


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")


def load_plain(data: bytes) -> Any:
    """Unpickle ``data`` if it is plain data; raise ``pickle.UnpicklingError`` otherwise."""
    return _PlainUnpickler(io.BytesIO(data)).load()


def pickled_type(data: bytes) -> str:
    """The first class or function a pickle names (what it would construct), if any."""
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                return str(arg).replace(" ", ".")
            if op.name == "STACK_GLOBAL" and len(strings) >= 2:
                return f"{strings[-2]}.{strings[-1]}"
            if isinstance(arg, str):
                strings.append(arg)
    except (ValueError, pickle.UnpicklingError):
        return "undecodable data"
    return "data"


def warn_unsafe() -> None:
    console.print(
        "[yellow]warning:[/] --unsafe-unpickle runs whatever code the stored values carry,"
        " on this machine"
    )


def show(data: bytes, unsafe: bool = False) -> str:
    """A value's repr: plain data always, anything else only with ``unsafe``."""
    if unsafe:
        try:
            return repr(deserialize(data))
        except exc.DeserializationError as e:
            return f"<{len(data)} bytes that cannot be unpickled here: {e}>"
    try:
        return repr(load_plain(data))
    except Exception:
        return (
            f"<a pickled {pickled_type(data)}, {len(data)} bytes: not plain data, so not"
            " unpickled here; --unsafe-unpickle shows it>"
        )
