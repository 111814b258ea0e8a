"""How values travel: cloudpickle for user data, msgpack envelopes for errors.

The server never unpickles anything: a success carries pickled bytes, a failure carries a msgpack
envelope ``{"type", "message", "traceback", "pickled"}`` whose ``pickled`` field (the exception
itself, when it pickles) only the caller opens.
"""

from __future__ import annotations

import traceback
from typing import Any

import cloudpickle
import msgpack

from . import exception as exc
from ._protocol.status import error_envelope


def serialize(value: Any) -> bytes:
    try:
        return cloudpickle.dumps(value)
    except Exception as e:
        raise exc.SerializationError(
            f"cannot serialize a value of type {type(value).__module__}.{type(value).__qualname__}:"
            f" {e}"
        ) from e


def deserialize(data: bytes) -> Any:
    try:
        return cloudpickle.loads(data)
    except Exception as e:
        raise exc.DeserializationError(f"cannot deserialize a value: {e!r}") from e


def exception_envelope(e: BaseException) -> bytes:
    """Pack a user's exception: its pickle when it has one, always its type, message, traceback."""
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    try:
        pickled: bytes | None = cloudpickle.dumps(e)
        cloudpickle.loads(pickled)  # an exception that pickles but cannot be rebuilt is useless
    except Exception:
        pickled = None
    name = f"{type(e).__module__}.{type(e).__qualname__}"
    return error_envelope(name, str(e), tb, pickled)


# Server-side statuses that map to gworker's own exception types.
_STATUS_ERRORS: dict[str, type[exc.Error]] = {
    "timeout": exc.FunctionTimeoutError,
    "died": exc.ExecutionError,
    "stopped": exc.ExecutionError,
    "serialization": exc.SerializationError,
    "internal": exc.ExecutionError,
}


def exception_from_output(status: str, data: bytes) -> BaseException:
    """Rebuild the exception a failed output stands for, with the remote traceback as cause."""
    if status == "cancelled":
        return exc.InputCancellation(_unpack(data).get("message", "input was cancelled"))
    env = _unpack(data)
    error: BaseException
    if status == "failure" and env.get("pickled"):
        try:
            error = cloudpickle.loads(env["pickled"])
        except Exception:
            error = exc.RemoteError(f"{env['type']}: {env['message']}")
    elif status == "failure":
        error = exc.RemoteError(f"{env['type']}: {env['message']}")
    else:
        error = _STATUS_ERRORS.get(status, exc.ExecutionError)(env.get("message", status))
    if env.get("traceback"):
        error.__cause__ = exc.RemoteTraceback(env["traceback"])
    return error


def _unpack(data: bytes) -> dict[str, Any]:
    try:
        value = msgpack.unpackb(data)
    except Exception:
        return {"type": "unknown", "message": "undecodable error"}
    return value if isinstance(value, dict) else {"type": "unknown", "message": str(value)}
