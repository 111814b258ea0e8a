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


class Conflict(ApiError):
    status = 409
    sdk_type = "AlreadyExistsError"
