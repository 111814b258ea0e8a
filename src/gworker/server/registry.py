"""The lifecycle every named object shares, written once for Dicts, Queues, Volumes and Secrets
(and any kind added later), and the routes that expose it:

- ``POST /v1/{kinds}``: create a named object (409 if its name is taken in the environment) or
  an ephemeral one (``name: null``); the client chooses the id, so a retried create is a no-op.
  A secret is created with its values (``server/secrets.py``), not here.
- ``POST /v1/{kinds}/lookup``: the id of a named object; ``create: true`` creates a missing one.
- ``GET /v1/{kinds}?env=``: the environment's named objects, with what each kind adds (item
  counts, file counts and sizes, key names).
- ``POST /v1/{kinds}/{id}/delete``: delete an object and its contents; deleting a deleted object
  is not an error.

What differs between kinds plugs in through a ``Kind``: what a list row adds, what must happen
when an object is deleted, and the hints in messages. The registry's SQL is ``store/registry.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gworker_client._protocol.objects import ObjectKind, id_problem

from ..store.registry import NamedObject
from . import namespaces
from .errors import Conflict, InvalidRequest, NotFound
from .http import body, reply, req_name

if TYPE_CHECKING:
    from ..store.contract import StateStore
    from .state import State

routes = web.RouteTableDef()
# What a list row adds for an object (by id).
Describe = Callable[["StateStore", str], dict[str, Any]]
# Called before an object is deleted (by id); returns what to do once the deletion is committed.
OnDelete = Callable[[web.Application, str], Callable[[], None]]


@dataclass(frozen=True)
class Kind:
    """What one kind of named object adds to the shared lifecycle."""

    kind: ObjectKind
    describe: Describe
    on_delete: OnDelete | None = None
    # Whether an object can be created empty (by create or lookup); a secret needs its values.
    creatable_empty: bool = True
    # Arguments of `gw KIND create NAME ...` after the name, for the not-found hint.
    create_args: str = ""
    # How to get past a taken name, for the conflict message.
    conflict_hint: str = "use it with {cls}.from_name({name!r}), or `gw {kind} delete {name}` first"


def kinds(*entries: Kind) -> dict[str, Kind]:
    """The kinds served, by the URL segment naming them (``dicts``)."""
    return {k.kind.plural: k for k in entries}


# -- messages --------------------------------------------------------------------------------------


def missing_message(kind: Kind, name: str, env: str) -> str:
    """Not found by name, saying how to create one."""
    how = f"create it with `gw {kind.kind} create {name}{kind.create_args}`"
    if kind.creatable_empty:
        how = f"pass create_if_missing=True to {kind.kind.sdk_class}.from_name, or {how}"
    return f"no {kind.kind} named {name!r} in environment {env!r}: {how}"


def conflict_message(kind: Kind, name: str, env: str) -> str:
    hint = kind.conflict_hint.format(cls=kind.kind.sdk_class, kind=kind.kind, name=name)
    return f"a {kind.kind} named {name!r} already exists in environment {env!r}: {hint}"


# -- the lifecycle ---------------------------------------------------------------------------------


def create(
    store: StateStore,
    kind: Kind,
    oid: str,
    name: str | None,
    env: str,
    app_id: str | None = None,
) -> NamedObject:
    """Create the object ``oid`` (not committed); if it exists already, this is a retry of a
    create that succeeded and changes nothing. Conflict if the name is taken."""
    done = store.object(oid)
    if done is not None:
        return done
    if name is not None and store.object_by_name(kind.kind, env, name):
        raise Conflict(conflict_message(kind, name, env))
    store.add_object(oid, kind.kind, env, name, app_id)
    created = store.object(oid)
    assert created is not None  # just added
    return created


def new_id(req: dict[str, Any], kind: Kind) -> str:
    """The id the client chose for a new object (``<prefix>-<20 hex>``)."""
    oid = req.get("id")
    problem = id_problem(kind.kind, oid)
    if problem:
        raise InvalidRequest(problem)
    assert isinstance(oid, str)  # id_problem checked it
    return oid


def lookup(store: StateStore, kind: Kind, name: str, env: str) -> NamedObject:
    """The named object; NotFound saying how to create it."""
    found = store.object_by_name(kind.kind, env, name)
    if found is None:
        raise NotFound(missing_message(kind, name, env))
    return found


def require(store: StateStore, kind: ObjectKind, oid: str) -> NamedObject:
    """The object ``oid`` of ``kind`` (for the routes on its contents); NotFound if it is gone."""
    found = store.object(oid)
    if found is None or found.kind != kind:
        raise NotFound(f"{kind} {oid} does not exist (it was deleted, or never created)")
    return found


def in_url(request: web.Request, kind: ObjectKind) -> NamedObject:
    """The object named by the URL's ``{object_id}``, which must be of ``kind`` and exist."""
    return require(request.app["state"].store, kind, request.match_info["object_id"])


def delete(app: web.Application, kind: Kind, oid: str) -> None:
    """Delete the object and its contents, and commit; nothing if there is no such object."""
    state: State = app["state"]
    found = state.store.object(oid)
    if found is None or found.kind != kind.kind:
        return
    after = kind.on_delete(app, oid) if kind.on_delete else None
    state.store.delete_object(oid)
    state.store.commit()
    if after is not None:
        after()


def rows(store: StateStore, kind: Kind, objects: Iterable[NamedObject]) -> list[dict[str, Any]]:
    """List rows: name, id and times, and what the kind adds."""
    return [
        {
            "id": o.id,
            "name": o.name,
            "created_at": o.created_at,
            "updated_at": o.updated_at,
            **kind.describe(store, o.id),
        }
        for o in objects
    ]


# -- routes ----------------------------------------------------------------------------------------

_EMPTY = "{kinds:dicts|queues|volumes|nfs}"  # the kinds created empty
_ANY = "{kinds:dicts|queues|volumes|secrets|nfs}"


def _kind(request: web.Request) -> Kind:
    return request.app["kinds"][request.match_info["kinds"]]  # type: ignore[no-any-return]


@routes.post(f"/v1/{_EMPTY}")
async def create_route(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    kind, req = _kind(request), await body(request)
    name = None if req.get("name") is None else req_name(req, kind.kind)
    env = namespaces.require(state.store, req.get("environment"))
    created = create(state.store, kind, new_id(req, kind), name, env)
    state.store.commit()
    return reply({"id": created.id})


@routes.post(f"/v1/{_ANY}/lookup")
async def lookup_route(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    kind, req = _kind(request), await body(request)
    name = req_name(req, kind.kind)
    env = namespaces.require(state.store, req.get("environment"))
    found = state.store.object_by_name(kind.kind, env, name)
    if found is None and req.get("create"):
        if not kind.creatable_empty:
            raise InvalidRequest(missing_message(kind, name, env))
        found = create(state.store, kind, new_id(req, kind), name, env)
        state.store.commit()
    return reply({"id": (found or lookup(state.store, kind, name, env)).id})


@routes.get(f"/v1/{_ANY}")
async def list_route(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    kind = _kind(request)
    env = namespaces.in_query(request)
    return reply({"objects": rows(state.store, kind, state.store.named_objects(kind.kind, env))})


@routes.post(f"/v1/{_ANY}/{{object_id}}/delete")
async def delete_route(request: web.Request) -> web.Response:
    delete(request.app, _kind(request), request.match_info["object_id"])
    return reply({})
