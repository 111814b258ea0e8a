"""Records to and from msgpack bytes: the only encoder and decoder of the protocol."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_encoder = msgspec.msgpack.Encoder()
_decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {}


def to_wire(value: Any) -> bytes:
    """msgpack bytes of a record (or of plain data holding records)."""
    return _encoder.encode(value)


def from_wire(data: bytes, kind: type[T]) -> T:
    """Decode and validate ``data`` as a ``kind``; ``msgspec.ValidationError`` names the path
    of a bad field (``$.outputs[0].duration``), ``msgspec.DecodeError`` says it is not msgpack."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.msgpack.Decoder(kind)
    return decoder.decode(data)  # type: ignore[no-any-return]


def from_builtins(value: Any, kind: type[T]) -> T:
    """A record from plain data already decoded (a dict from another msgpack reader)."""
    return msgspec.convert(value, kind)


def to_builtins(value: Any) -> Any:
    """Plain data (dicts, lists; bytes kept as bytes) of a record, for a plain msgpack writer."""
    return msgspec.to_builtins(value, builtin_types=(bytes, bytearray, memoryview))


def field_path(kind: Any, path: str) -> str:
    """A ValidationError's path with array rows' indexes named: ``$.outputs[0][3]`` of a
    ``Poll`` reads ``$.outputs[0].duration``."""
    import re

    from msgspec import inspect as mi

    info: Any = mi.type_info(kind)
    out = "$"
    for name, index in re.findall(r"\.([A-Za-z_]\w*)|\[(\d+)\]", path.removeprefix("$")):
        while isinstance(info, (mi.UnionType,)):
            info = next((t for t in info.types if not isinstance(t, mi.NoneType)), info)
            if isinstance(info, mi.UnionType):
                break
        if name:
            out += f".{name}"
            fields = {f.encode_name: f.type for f in getattr(info, "fields", ())}
            info = fields.get(name, mi.AnyType())
        elif isinstance(info, mi.StructType) and info.array_like:
            field = info.fields[int(index)] if int(index) < len(info.fields) else None
            out += f".{field.name}" if field else f"[{index}]"
            info = field.type if field else mi.AnyType()
        else:
            out += f"[{index}]"
            info = getattr(info, "item_type", None) or getattr(info, "value_type", mi.AnyType())
    return out
