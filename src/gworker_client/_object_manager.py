"""``Dict.objects``, ``Queue.objects``, ``Volume.objects`` and ``Secret.objects``: Modal's
namespace for creating, listing and deleting named objects from code (what ``gw dict|queue|
volume|secret create|list|delete`` do on the command line).

::

    gw.Volume.objects.create("weights", allow_existing=True)
    names = [v.name for v in gw.Volume.objects.list()]
    gw.Secret.objects.create("api", {"KEY": "value"}, allow_existing=True)
    gw.Queue.objects.delete("jobs", allow_missing=True)
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

from . import _api, _config
from . import exception as exc
from ._aio import blocking

if TYPE_CHECKING:
    from ._object import _Object
    from ._secret import Secret

Obj = TypeVar("Obj", bound="_Object")


class ObjectManager:
    """The ``objects`` attribute of a named-object class: a manager bound to that class."""

    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        from ._secret import Secret

        return SecretManager() if owner is Secret else NamedObjectManager(owner)


def _listed(
    plural: str,
    environment_name: str | None,
    max_objects: int | None,
    created_before: datetime.datetime | None,
) -> tuple[str, list[dict[str, Any]]]:
    """The environment's rows of one kind, newest first, filtered as Modal's ``list`` is."""
    if max_objects is not None and (
        isinstance(max_objects, bool) or not isinstance(max_objects, int) or max_objects < 0
    ):
        raise exc.InvalidError(f"objects.list(max_objects={max_objects!r}): expected an int >= 0")
    if created_before is not None and not isinstance(created_before, datetime.datetime):
        raise exc.InvalidError(
            f"objects.list(created_before={created_before!r}): expected a datetime.datetime"
        )
    env = environment_name or _config.environment()
    rows = list(_api.client().get(f"/v1/{plural}?env={quote(env)}")["objects"])
    if created_before is not None:
        cutoff = created_before.timestamp()
        rows = [r for r in rows if float(r["created_at"]) < cutoff]
    rows.sort(key=lambda r: float(r["created_at"]), reverse=True)
    return env, rows if max_objects is None else rows[:max_objects]


class NamedObjectManager(Generic[Obj]):
    """``Dict.objects``, ``Queue.objects``, ``Volume.objects``."""

    def __init__(self, cls: type[Obj]) -> None:
        self._cls = cls

    def __repr__(self) -> str:
        return f"{self._cls.__name__}.objects"

    @blocking
    def create(
        self,
        name: str,
        *,
        allow_existing: bool = False,
        environment_name: str | None = None,
        version: int | None = None,
    ) -> None:
        """Create the named object; ``AlreadyExistsError`` if it exists, unless
        ``allow_existing=True`` (then nothing happens). ``version`` is for volumes, as in
        ``Volume.from_name``."""
        if version is not None:
            if self._cls._kind.value != "volume":
                raise exc.InvalidError(f"{self!r}.create(version={version!r}): only for volumes")
            # the same check as Volume.from_name's (one kind of volume serves both formats)
            self._cls.from_name(name, version=version)  # type: ignore[call-arg]
        try:
            self._cls._create(name, environment_name=environment_name)
        except exc.AlreadyExistsError:
            if not allow_existing:
                raise

    @blocking
    def list(
        self,
        *,
        max_objects: int | None = None,
        created_before: datetime.datetime | None = None,
        environment_name: str | None = None,
    ) -> list[Obj]:
        """Handles on the environment's named objects of this kind, newest first."""
        env, rows = _listed(self._cls._kind.plural, environment_name, max_objects, created_before)
        return [self._cls(name=r["name"], environment=env, object_id=r["id"]) for r in rows]

    @blocking
    def delete(
        self, name: str, *, allow_missing: bool = False, environment_name: str | None = None
    ) -> None:
        """Delete the named object and its contents; ``NotFoundError`` if there is none, unless
        ``allow_missing=True``."""
        try:
            self._cls.delete(name, environment_name=environment_name)
        except exc.NotFoundError:
            if not allow_missing:
                raise


class SecretManager:
    """``Secret.objects``."""

    def __repr__(self) -> str:
        return "Secret.objects"

    @blocking
    def create(
        self,
        name: str,
        env_dict: Mapping[str, str],
        *,
        allow_existing: bool = False,
        environment_name: str | None = None,
    ) -> None:
        """Create the named secret with these values; ``AlreadyExistsError`` if it exists,
        unless ``allow_existing=True`` (then its values are left as they are)."""
        from ._secret import create_named

        try:
            create_named(name, env_dict, environment_name=environment_name)
        except exc.AlreadyExistsError:
            if not allow_existing:
                raise

    @blocking
    def list(
        self,
        *,
        max_objects: int | None = None,
        created_before: datetime.datetime | None = None,
        environment_name: str | None = None,
    ) -> list[Secret]:
        """Handles on the environment's named secrets, newest first."""
        from ._secret import Secret

        env, rows = _listed("secrets", environment_name, max_objects, created_before)
        return [Secret.from_name(r["name"], environment_name=env) for r in rows]

    @blocking
    def delete(
        self, name: str, *, allow_missing: bool = False, environment_name: str | None = None
    ) -> None:
        """Delete the named secret; ``NotFoundError`` if there is none, unless
        ``allow_missing=True``."""
        from ._secret import delete_named

        try:
            delete_named(name, environment_name=environment_name)
        except exc.NotFoundError:
            if not allow_missing:
                raise
