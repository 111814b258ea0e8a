"""Modal classes this version does not build, present so that apps importing them load, and
refused with a clear error naming what to use instead as soon as they are used."""

from __future__ import annotations

from typing import Any, NoReturn

from .exception import InvalidError


class Refused:
    """Stands in for a Modal class: any call or attribute raises ``InvalidError``."""

    def __init__(self, name: str, why: str) -> None:
        self._name = name
        self._why = why

    def _refuse(self, what: str) -> NoReturn:
        raise InvalidError(
            f"gw.{self._name}{what} is not supported by this version of gworker: {self._why}"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse("(...)")

    def __getattr__(self, attr: str) -> NoReturn:
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._refuse(f".{attr}")

    def __repr__(self) -> str:
        return f"<gw.{self._name}: not supported by this version>"


CloudBucketMount = Refused(
    "CloudBucketMount",
    "copy the bucket's data into a gw.Volume (gw volume put, or Volume.batch_upload) and mount"
    " that",
)
