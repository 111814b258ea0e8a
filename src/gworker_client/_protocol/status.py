"""What became of an input: the status of its output, and the envelope a failure carries."""

from __future__ import annotations

import enum

import msgpack


class OutputStatus(str, enum.Enum):
    """The status of one input's output (a ``str`` so it travels and is stored as its value)."""

    # the function returned; the data is its pickled result
    SUCCESS = "success"
    # the function raised; the data is an error envelope with the pickled exception when it pickles
    FAILURE = "failure"
    # the input ran past the function's timeout and was interrupted (or its container killed)
    TIMEOUT = "timeout"
    # the container running the input exited or went silent (a crash, out of memory, replaced)
    DIED = "died"
    # the caller cancelled the call before the input finished
    CANCELLED = "cancelled"
    # the app was stopped while the input was queued or running
    STOPPED = "stopped"
    # the function returned a value that cannot be pickled
    SERIALIZATION = "serialization"
    # the platform could not run the input at all (its containers failed to start)
    INTERNAL = "internal"

    @property
    def retryable(self) -> bool:
        """Whether a function's retry policy applies to an input that ended this way."""
        return self in _RETRYABLE


_RETRYABLE = frozenset({OutputStatus.FAILURE, OutputStatus.TIMEOUT, OutputStatus.DIED})


def error_envelope(
    type_name: str, message: str, tb: str = "", pickled: bytes | None = None
) -> bytes:
    """A failed output's data: ``{"type", "message", "traceback", "pickled"}`` in msgpack. The
    server builds these for statuses of its own and never unpickles ``pickled``."""
    return msgpack.packb(
        {"type": type_name, "message": message, "traceback": tb, "pickled": pickled}
    )
