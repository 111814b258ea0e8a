"""Image builds for the local backend: an image is a cached uv virtual environment."""

from .builder import ImageBuilder
from .built import BuiltImage
from .errors import AptPackagesMissing, BuildError, InterpreterNotFound

__all__ = ["AptPackagesMissing", "BuildError", "BuiltImage", "ImageBuilder", "InterpreterNotFound"]
