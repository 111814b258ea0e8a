"""Errors the API answers with; each maps to one HTTP status and an SDK exception name."""

from __future__ import annotations


class ApiError(Exception):
    status = 500
    sdk_type = "Error"


class InvalidRequest(ApiError):
    status = 400
    sdk_type = "InvalidError"


class Unauthorized(ApiError):
    status = 401
    sdk_type = "AuthError"


class NotFound(ApiError):
    status = 404
    sdk_type = "NotFoundError"


class Gone(ApiError):
    """Something that existed and is no longer kept (a call past its retention)."""

    status = 410
    sdk_type = "OutputExpiredError"


class Conflict(ApiError):
    status = 409
    sdk_type = "AlreadyExistsError"


class Forbidden(ApiError):
    """A valid token whose role or scope does not allow the request."""

    status = 403
    sdk_type = "AuthError"


class TooLarge(ApiError):
    """A body, value or backlog past one of the limits in ``_protocol/limits.py``."""

    status = 413
    sdk_type = "InvalidError"


class TimedOut(ApiError):
    """An operation with a caller's deadline did not finish in time (and was given up)."""

    status = 504
    sdk_type = "TimeoutError"


class Stopping(ApiError):
    """The server is stopping: the SDK retries as after a lost connection (``_api.py``)."""

    status = 503
    sdk_type = "Error"
