"""What ``Dict``, ``Queue`` and ``Volume`` share: names, environments, lazy lookup, size limits,
pickling.

The limits below are enforced twice: by the SDK before anything is sent, and by the server.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar

from . import _api, _config
from . import exception as exc
from ._aio import DualContext, blocking
from ._object_manager import ObjectManager
from ._protocol.objects import ObjectKind, name_problem, new_object_id
from ._serialization import serialize

# Largest pickled Dict key.
MAX_KEY_BYTES = 64 * 1024
# Largest pickled Dict value or Queue item.
MAX_VALUE_BYTES = 16 * 1024 * 1024

Obj = TypeVar("Obj", bound="_Object")


def size_problem(what: str, size: int, limit: int) -> str | None:
    """Why ``size`` bytes of ``what`` are too many, or None when they fit."""
    if size <= limit:
        return None
    return f"{what} is {_human(size)} ({size} bytes) pickled, over the limit of {_human(limit)}"


def _human(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n} bytes"


def pickled(value: Any, what: str, limit: int) -> bytes:
    """``value`` serialized, or InvalidError when the pickle exceeds ``limit`` bytes."""
    data = serialize(value)
    problem = size_problem(what, len(data), limit)
    if problem:
        raise exc.InvalidError(problem)
    return data


def request_id() -> str:
    """A client-chosen id that makes a retried request idempotent."""
    return uuid.uuid4().hex


# Ids of the objects pickled while a call's arguments are pickled: a function with
# restrict_modal_access=True may use the objects passed to it, and only those (server/scope.py).
_passed: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "gw_passed_objects", default=None
)


@contextlib.contextmanager
def passed_objects() -> Iterator[set[str]]:
    """Collect the ids of the objects pickled inside the block."""
    ids: set[str] = set()
    token = _passed.set(ids)
    try:
        yield ids
    finally:
        _passed.reset(token)


class _Object:
    """A handle on a server-side Dict, Queue or Volume: by name (looked up on first use) or by
    id."""

    _kind: ClassVar[ObjectKind]  # the word in messages, CLI commands and URLs
    # Modal's `Dict.objects.create|list|delete(...)`, bound to the class it is read from
    objects: ClassVar[Any] = ObjectManager()

    def __init__(
        self,
        *,
        name: str | None = None,
        environment: str | None = None,
        object_id: str | None = None,
        create_if_missing: bool = False,
    ) -> None:
        self._name = name
        self._environment_name = environment
        self._object_id = object_id
        self._create_if_missing = create_if_missing

    @property
    def _environment(self) -> str:
        # resolved when used, so an object made at import time lives in the environment its
        # app is run or deployed in (``--env``, ``environment_name=``), as in Modal
        return self._environment_name or _config.environment()

    def __repr__(self) -> str:
        ref = self._name if self._name is not None else self._object_id or "?"
        return f"{type(self).__name__}({ref!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Only the reference travels: the other side talks to the same server by id or name.
        passed = _passed.get()
        if passed is not None:  # pickled into a call's arguments: the callee may use it
            with contextlib.suppress(exc.Error):  # one that refers to nothing grants nothing
                passed.add(self.object_id)
        state = (self._name, self._environment, self._object_id, self._create_if_missing)
        return (_rebuild, (type(self), *state))

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_name(
        cls: type[Obj],
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
    ) -> Obj:
        """A handle on the named object, looked up on first use (no request is made here).

        ``environment_name`` defaults to ``GW_ENVIRONMENT`` (else ``main``). If the object does
        not exist, the first use raises ``NotFoundError``, unless ``create_if_missing=True``
        creates it. A bad name raises ``InvalidError`` at once.
        """
        _check_name(cls._kind, name)
        return cls(name=name, environment=environment_name, create_if_missing=create_if_missing)

    @classmethod
    def ephemeral(cls: type[Obj], *, environment_name: str | None = None) -> DualContext[Obj]:
        """A new anonymous object for the ``with`` (or ``async with``) block; it is deleted when
        the block exits."""
        return DualContext(cls._ephemeral(environment_name))

    @classmethod
    @contextlib.contextmanager
    def _ephemeral(cls: type[Obj], environment_name: str | None) -> Iterator[Obj]:
        obj = cls._new(None, environment_name)
        try:
            yield obj
        finally:
            # deleting by id is idempotent; an unreachable server must not hide the block's error
            with contextlib.suppress(exc.ConnectionError):
                _api.client().post(obj._url("delete"))

    @classmethod
    def _create(cls: type[Obj], name: str, *, environment_name: str | None = None) -> Obj:
        """Create the named object; ``AlreadyExistsError`` if one of that name exists (the CLI's
        ``create``; code uses ``from_name(name, create_if_missing=True)``)."""
        _check_name(cls._kind, name)
        return cls._new(name, environment_name)

    @classmethod
    def _new(cls: type[Obj], name: str | None, environment_name: str | None) -> Obj:
        obj = cls(name=name, environment=environment_name)
        oid = new_object_id(cls._kind)
        _api.client().post(
            f"/v1/{cls._kind.plural}", {"id": oid, "name": name, "environment": obj._environment}
        )
        obj._object_id = oid
        return obj

    @classmethod
    def delete(cls, name: str, *, environment_name: str | None = None) -> None:
        """Delete the named object and everything in it; ``NotFoundError`` if there is none."""
        oid = cls.from_name(name, environment_name=environment_name).object_id
        _api.client().post(f"/v1/{cls._kind.plural}/{oid}/delete")

    # -- identity ------------------------------------------------------------------------------

    @property
    def name(self) -> str | None:
        """The object's name; None for an ephemeral object."""
        return self._name

    @property
    def object_id(self) -> str:
        """The server's id for the object (looking it up by name if not done yet)."""
        if self._object_id is None:
            if self._name is None:
                raise exc.InvalidError(
                    f"this {type(self).__name__} refers to nothing: get one with"
                    f" gw.{type(self).__name__}.from_name(name) or"
                    f" gw.{type(self).__name__}.ephemeral()"
                )
            resp = _api.client().post(
                f"/v1/{self._kind.plural}/lookup",
                {
                    "name": self._name,
                    "environment": self._environment,
                    "create": self._create_if_missing,
                    "id": new_object_id(self._kind),
                },
            )
            self._object_id = resp["id"]
        return self._object_id

    @blocking
    def hydrate(self: Obj) -> Obj:
        """Look the object up now rather than on first use; return it."""
        _ = self.object_id
        return self

    def _url(self, action: str) -> str:
        return f"/v1/{self._kind.plural}/{self.object_id}/{action}"


def _rebuild(
    cls: type[Obj], name: str | None, environment: str, object_id: str | None, create: bool
) -> Obj:
    return cls(name=name, environment=environment, object_id=object_id, create_if_missing=create)


def _check_name(kind: str, name: object) -> None:
    problem = name_problem(kind, name)
    if problem:
        raise exc.InvalidError(problem)
