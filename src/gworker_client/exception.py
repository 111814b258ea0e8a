"""Every error gworker raises derives from one root, ``Error``.

::

    Error
     ├── AuthError              the token is missing or wrong
     ├── ConnectionError        the control plane cannot be reached
     ├── InvalidError           bad input: an option, an argument, a name
     ├── NotFoundError          no such app, function, call, ...
     ├── AlreadyExistsError     a name that must be new is taken
     ├── ExecutionError         the remote side failed: container died, app stopped
     │    └── RemoteError       a remote exception that cannot be re-created here
     ├── SerializationError     a value could not be pickled
     ├── DeserializationError   a value could not be unpickled
     ├── SandboxTerminatedError a sandbox was terminated (or its server restarted)
     └── TimeoutError
          ├── FunctionTimeoutError   an input ran past its function's ``timeout``
          ├── OutputExpiredError     a result is gone from the server
          └── SandboxTimeoutError    a sandbox ran past its ``timeout``

``InputCancellation`` derives from ``BaseException`` on purpose: it is raised inside user code
when its input is cancelled, and a bare ``except Exception`` in that code must not swallow it.

Names match Modal's, so ``except modal.exception.NotFoundError`` keeps working after the import
line changes.
"""

from __future__ import annotations

import builtins


class Error(Exception):
    """Root of every gworker error."""


class AuthError(Error):
    """The request carried no token, or one the server does not accept."""


class ConnectionError(Error, builtins.ConnectionError):
    """The control plane could not be reached."""


class InvalidError(Error, ValueError):
    """An option, argument or name is not valid."""


class NotFoundError(Error):
    """The named object does not exist."""


class AlreadyExistsError(Error):
    """An object with this name exists already."""


class ExecutionError(Error):
    """The remote side failed for a reason other than the user's own exception."""


class RemoteError(ExecutionError):
    """A remote exception whose type cannot be re-created in this process."""


class SerializationError(Error):
    """A value could not be serialized."""


class DeserializationError(Error):
    """A value could not be deserialized."""


class TimeoutError(Error, builtins.TimeoutError):
    """Base class for timeouts."""


class FunctionTimeoutError(TimeoutError):
    """An input ran longer than its function's ``timeout``."""


class OutputExpiredError(TimeoutError):
    """The output of a call is no longer stored on the server."""


class SandboxTimeoutError(TimeoutError):
    """A sandbox ran past its ``timeout`` and was ended."""


class SandboxTerminatedError(Error):
    """A sandbox was terminated (``terminate()``, its memory limit, or a server restart)."""


class InputCancellation(BaseException):
    """Raised inside user code when its input was cancelled.

    A ``BaseException`` so that ``except Exception`` in user code does not swallow it.
    """


class RemoteTraceback(Exception):
    """Carries the remote traceback text; attached as ``__cause__`` of re-raised exceptions."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n\nRemote traceback:\n"""\n{self.tb.rstrip()}\n"""'


__all__ = [
    "AlreadyExistsError",
    "AuthError",
    "ConnectionError",
    "DeserializationError",
    "Error",
    "ExecutionError",
    "FunctionTimeoutError",
    "InputCancellation",
    "InvalidError",
    "NotFoundError",
    "OutputExpiredError",
    "RemoteError",
    "RemoteTraceback",
    "SandboxTerminatedError",
    "SandboxTimeoutError",
    "SerializationError",
    "TimeoutError",
]
