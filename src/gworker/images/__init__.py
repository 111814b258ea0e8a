"""Image builds for the local backend: an image is a root filesystem of cached layers."""

from .builder import ImageBuilder
from .built import BuiltImage
from .errors import AptPackagesMissing, BuildError, InterpreterNotFound
from .layers import ImageConfig, ImageRecord, LayerStore
from .overlay import Rootfs

__all__ = [
    "AptPackagesMissing",
    "BuildError",
    "BuiltImage",
    "ImageBuilder",
    "ImageConfig",
    "ImageRecord",
    "InterpreterNotFound",
    "LayerStore",
    "Rootfs",
]
