"""Why an image could not be built. Each message names the failing step and how to fix it."""

from __future__ import annotations


class BuildError(Exception):
    """A build step failed; the message carries the failing command and the end of its output."""


class InterpreterNotFound(BuildError):
    """No Python of the requested version exists on this machine (and uv may not download one)."""


class AptPackagesMissing(BuildError):
    """System packages the image needs are not installed, and this server may not install them."""
