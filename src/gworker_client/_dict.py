"""``Dict``: a persistent key-value store shared by functions and local code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from . import _api
from . import exception as exc
from ._aio import blocking, iterating
from ._object import MAX_KEY_BYTES, MAX_VALUE_BYTES, _Object, pickled
from ._protocol.objects import ObjectKind
from ._serialization import deserialize

# update() sends its entries in requests of about this many bytes.
UPDATE_CHUNK_BYTES = 64 * 1024 * 1024
_MISSING: Any = object()


class Dict(_Object):
    """A persistent key-value store, shared by every function and client of an environment.

    ::

        d = gw.Dict.from_name("cache", create_if_missing=True)
        d["model"] = {"epoch": 3}
        d.put("token", "abc", ttl=60)              # gone after 60 s
        d.put("lock", me, skip_if_exists=True)     # True only if it was written
        d["model"], d.get("missing"), "token" in d, len(d)
        for key, value in d.items(): ...

        with gw.Dict.ephemeral() as d:   # an anonymous Dict, deleted when the block exits
            worker.remote(d)

    Keys and values are pickled by the SDK; the server stores the bytes and never unpickles
    them. A key is identified by the bytes of its pickle, so keys must pickle deterministically:
    use str, int, float, bytes, None, or tuples of these (not sets, not objects whose pickle
    varies between processes). Note that ``1`` and ``True`` are different keys here.

    Limits: a pickled key is at most 64 KiB (``MAX_KEY_BYTES``), a pickled value at most 16 MiB
    (``MAX_VALUE_BYTES``); a larger one raises ``InvalidError`` and nothing is written. Entries
    are stored in the server's database and survive its restart.

    Handles pickle as a reference (name or id, and environment), so a Dict can be passed to a
    function or captured by one.
    """

    _kind = ObjectKind.DICT

    # -- reading -------------------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        """The value of ``key``; ``KeyError`` if it is absent (or expired)."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    @blocking
    def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` if it is absent (or expired)."""
        data = self._get_raw(key)
        return default if data is None else deserialize(data)

    def _get_raw(self, key: Any) -> bytes | None:
        resp = _api.client().post(self._url("get"), {"key": _key(key)})
        return resp["value"] if resp["found"] else None

    @blocking
    def contains(self, key: Any) -> bool:
        """Whether ``key`` is present (and not expired); also ``key in d``."""
        return bool(_api.client().post(self._url("contains"), {"key": _key(key)})["found"])

    def __contains__(self, key: Any) -> bool:
        return self.contains(key)

    @blocking
    def len(self) -> int:
        """How many entries there are (expired ones do not count); also ``len(d)``."""
        return int(_api.client().get(self._url("len"))["len"])

    def __len__(self) -> int:
        return self.len()

    @iterating
    def keys(self) -> Iterator[Any]:
        """The keys, fetched page by page (in the order of their pickled bytes)."""
        return (k for k, _ in self._scan(values=False))

    @iterating
    def values(self) -> Iterator[Any]:
        """The values, fetched page by page (in the order of their keys' pickled bytes)."""
        return (v for _, v in self._scan(values=True))

    @iterating
    def items(self) -> Iterator[tuple[Any, Any]]:
        """``(key, value)`` pairs, fetched page by page."""
        return self._scan(values=True)

    def __iter__(self) -> Iterator[Any]:
        return self.keys()  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncIterator[Any]:
        """``async for key in d``: the keys, fetched in a worker thread."""
        return self.keys()  # type: ignore[return-value]

    def _scan(self, *, values: bool) -> Iterator[tuple[Any, Any]]:
        for key, value in self._scan_raw(values=values):
            yield deserialize(key), (None if value is None else deserialize(value))

    def _scan_raw(self, *, values: bool) -> Iterator[tuple[bytes, bytes | None]]:
        """Pickled entries in key order, a page per request."""
        after: bytes | None = None
        while True:
            resp = _api.client().post(self._url("scan"), {"after": after, "values": values})
            for key, value in resp["entries"]:
                after = key
                yield key, value
            if not resp["more"]:
                return

    # -- writing -------------------------------------------------------------------------------

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    @blocking
    def put(
        self, key: Any, value: Any, *, ttl: float | None = None, skip_if_exists: bool = False
    ) -> bool:
        """Set ``key`` to ``value``; return whether it was written.

        ``ttl``: seconds after which the entry expires (None: never). ``skip_if_exists``: leave
        a present (unexpired) entry as it is, and return False.
        """
        _check_ttl(ttl)
        body = {"items": [[_key(key), _value(value)]], "ttl": ttl, "skip_if_exists": skip_if_exists}
        return bool(_api.client().post(self._url("put"), body)["written"])

    @blocking
    def update(self, other: Mapping[Any, Any] | Any = (), /, **kwargs: Any) -> None:
        """Set several entries, like ``dict.update``: from a mapping or ``(key, value)`` pairs,
        then from keyword arguments. Every entry is checked before any is written."""
        pairs = other.items() if isinstance(other, Mapping) else other
        items = [[_key(k), _value(v)] for k, v in [*pairs, *kwargs.items()]]
        for chunk in _chunks(items):
            _api.client().post(self._url("put"), {"items": chunk})

    @blocking
    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value; ``default`` if absent, else ``KeyError``."""
        resp = _api.client().post(self._url("pop"), {"key": _key(key)})
        if resp["found"]:
            return deserialize(resp["value"])
        if default is _MISSING:
            raise KeyError(key)
        return default

    def __delitem__(self, key: Any) -> None:
        self.pop(key)

    @blocking
    def clear(self) -> None:
        """Remove every entry."""
        _api.client().post(self._url("clear"))


def _key(key: Any) -> bytes:
    return pickled(key, "dict key", MAX_KEY_BYTES)


def _value(value: Any) -> bytes:
    return pickled(value, "dict value", MAX_VALUE_BYTES)


def _check_ttl(ttl: object) -> None:
    if ttl is None:
        return
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
        raise exc.InvalidError(f"ttl={ttl!r} must be a positive number of seconds, or None")


def _chunks(items: list[list[bytes]]) -> Iterator[list[list[bytes]]]:
    chunk: list[list[bytes]] = []
    size = 0
    for item in items:
        if chunk and size + len(item[0]) + len(item[1]) > UPDATE_CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item[0]) + len(item[1])
    if chunk:
        yield chunk
