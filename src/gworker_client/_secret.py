"""``Secret``: environment variables for containers, stored encrypted by the control plane.

A secret is named (``Secret.from_name``, created with ``gw secret create``) or inline
(``from_dict``, ``from_local_environ``, ``from_dotenv``). Inline values travel to the server when
the app is published and are stored encrypted, tied to that app; named secrets are looked up at
publish, so a missing one (or a missing ``required_keys`` entry) fails ``gw run``/``gw deploy``
before any container starts. Values never appear in ``repr``, logs or error messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import msgspec

from . import _api, _config
from . import exception as exc
from ._object import request_id
from ._object_manager import ObjectManager
from ._protocol import FunctionSpec, SecretRef
from ._protocol.objects import name_problem

if TYPE_CHECKING:
    from ._function import Function

# An environment variable name: what a shell can export.
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_KEYS = 1000
MAX_VALUE_BYTES = 64 * 1024


def key_problem(key: object) -> str | None:
    """Why ``key`` cannot name an environment variable, or None when it can."""
    if isinstance(key, str) and KEY_PATTERN.fullmatch(key):
        return None
    return (
        f"secret key {key!r} is not a valid environment variable name: use letters, digits and"
        " '_', not starting with a digit"
    )


def values_problem(values: object) -> str | None:
    """Why ``values`` is not a valid mapping of secret keys to values (never quoting a value)."""
    if not isinstance(values, Mapping):
        return "secret values must be a mapping of names to strings"
    if len(values) > MAX_KEYS:
        return f"a secret has at most {MAX_KEYS} keys, not {len(values)}"
    for key, value in values.items():
        problem = key_problem(key)
        if problem:
            return problem
        if not isinstance(value, str):
            return f"the value of secret key {key!r} must be a string, not {type(value).__name__}"
        if "\0" in value:
            return f"the value of secret key {key!r} contains a NUL character"
        if len(value.encode()) > MAX_VALUE_BYTES:
            return f"the value of secret key {key!r} is longer than {MAX_VALUE_BYTES} bytes"
    return None


def _in_container() -> bool:
    # The module is imported again in its containers, where the secret's values arrived already
    # (as environment variables) and local files and variables of the publishing machine do not
    # exist: constructors must not fail there.
    return bool(os.environ.get("GW_CONTAINER_ID"))


class Secret:
    """Environment variables for a function's containers: ``@app.function(secrets=[...])``.

    ::

        gw.Secret.from_name("openai")                           # gw secret create openai KEY=...
        gw.Secret.from_name("db", required_keys=["PGPASSWORD"])
        gw.Secret.from_dict({"API_KEY": "xxx"})
        gw.Secret.from_local_environ(["API_KEY", "SECRET_KEY"])
        gw.Secret.from_dotenv()                                 # ./.env

    Several secrets (the App's ``secrets=`` first, then the function's) are merged in order:
    on a key clash the later one wins. They are set in the container's environment before the
    app's module is imported.
    """

    # Modal's `Secret.objects.create(name, values)`, `.list()`, `.delete(name)`
    objects: ClassVar[Any] = ObjectManager()

    def __init__(
        self,
        *,
        name: str | None = None,
        environment: str | None = None,
        values: Mapping[str, str] | None = None,
        required_keys: Iterable[str] = (),
        origin: str = "",
    ) -> None:
        self._name = name
        self._environment_name = environment
        self._values = dict(values) if values is not None else None
        self._required_keys = tuple(required_keys)
        self._origin = origin

    @property
    def _environment(self) -> str:
        # resolved when used, so an object made at import time lives in the environment its
        # app is run or deployed in (``--env``, ``environment_name=``), as in Modal
        return self._environment_name or _config.environment()

    def __repr__(self) -> str:
        if self._name is not None:
            return f"Secret.from_name({self._name!r})"
        return f"Secret.{self._origin or 'from_dict'}(keys={sorted(self._values or {})})"

    @property
    def name(self) -> str | None:
        """The secret's name; None for an inline secret."""
        return self._name

    # -- constructors ----------------------------------------------------------------------------

    @classmethod
    def from_name(
        cls,
        name: str,
        *,
        environment_name: str | None = None,
        required_keys: Iterable[str] = (),
    ) -> Secret:
        """A named secret (``gw secret create NAME KEY=VALUE``), looked up when the app is
        published; ``required_keys`` must all be in it, else the publish fails."""
        problem = name_problem("secret", name)
        if problem:
            raise exc.InvalidError(problem)
        if isinstance(required_keys, str):
            raise exc.InvalidError(
                f"required_keys={required_keys!r} must be a list of key names, not a string"
            )
        keys = list(required_keys)
        for key in keys:
            problem = key_problem(key)
            if problem:
                raise exc.InvalidError(f"required_keys: {problem}")
        return cls(name=name, environment=environment_name, required_keys=keys)

    @classmethod
    def from_dict(cls, env_dict: Mapping[str, str | None] | None = None) -> Secret:
        """An inline secret with these values (``None`` values are left out)."""
        if env_dict is None:
            env_dict = {}
        if not isinstance(env_dict, Mapping):
            raise exc.InvalidError(
                "Secret.from_dict() takes a dict of names to strings,"
                f" not {type(env_dict).__name__}"
            )
        values = {k: v for k, v in env_dict.items() if v is not None}
        problem = values_problem(values)
        if problem:
            raise exc.InvalidError(f"Secret.from_dict(): {problem}")
        return cls(values=values, origin="from_dict")

    @classmethod
    def from_local_environ(cls, env_keys: Iterable[str]) -> Secret:
        """An inline secret with these variables of this process's environment; a variable that
        is not set fails here, naming it."""
        if isinstance(env_keys, str):
            raise exc.InvalidError(
                f"Secret.from_local_environ({env_keys!r}) takes a list of variable names, not a"
                " string"
            )
        keys = list(env_keys)
        for key in keys:
            problem = key_problem(key)
            if problem:
                raise exc.InvalidError(f"Secret.from_local_environ(): {problem}")
        missing = [k for k in keys if k not in os.environ]
        if missing and not _in_container():
            raise exc.InvalidError(
                f"Secret.from_local_environ(): {', '.join(missing)}"
                f" {'is' if len(missing) == 1 else 'are'} not set in this environment"
            )
        values = {k: os.environ[k] for k in keys if k in os.environ}
        problem = values_problem(values)
        if problem:
            raise exc.InvalidError(f"Secret.from_local_environ(): {problem}")
        return cls(values=values, origin="from_local_environ")

    @classmethod
    def from_dotenv(
        cls, path: str | os.PathLike[str] | None = None, *, filename: str = ".env"
    ) -> Secret:
        """An inline secret read from a dotenv file: ``path`` itself if it is a file, else
        ``filename`` in the directory ``path`` (default: the current directory).

        Lines are ``KEY=VALUE``, optionally after ``export``; values may be single-quoted
        (literal) or double-quoted (``\\n``, ``\\"`` and ``\\\\`` escapes, several lines);
        ``#`` starts a comment at the start of a line or after whitespace in an unquoted value.
        """
        where = Path(path) if path is not None else Path.cwd()
        file = where if where.is_file() else where / filename
        if not file.is_file():
            if _in_container():
                return cls(values={}, origin="from_dotenv")
            raise exc.InvalidError(f"Secret.from_dotenv(): {str(file)!r} does not exist")
        values = parse_dotenv(file.read_text(), str(file))
        problem = values_problem(values)
        if problem:
            raise exc.InvalidError(f"Secret.from_dotenv({str(file)!r}): {problem}")
        return cls(values=values, origin="from_dotenv")

    # -- publishing ------------------------------------------------------------------------------

    def _reference(self) -> dict[str, Any]:
        """What a function's spec says about the secret before publish (no values)."""
        if self._name is not None:
            return {
                "name": self._name,
                "environment": self._environment,
                "required_keys": list(self._required_keys),
            }
        return {"inline": sorted(self._values or {})}


def parse_dotenv(text: str, where: str = ".env") -> dict[str, str]:
    """The ``KEY=VALUE`` pairs of a dotenv file (see ``Secret.from_dotenv``). Errors name the
    line, never a value."""
    values: dict[str, str] = {}
    pos, line_no, n = 0, 1, len(text)

    def fail(why: str, at: int) -> exc.InvalidError:
        return exc.InvalidError(f"{where}, line {at}: {why}")

    while pos < n:
        end = text.find("\n", pos)
        end = n if end < 0 else end
        line = text[pos:end]
        body = line.lstrip()
        if not body.strip() or body.startswith("#"):
            pos, line_no = end + 1, line_no + 1
            continue
        start = pos + len(line) - len(body)  # where ``body`` starts in ``text``
        if body.startswith(("export ", "export\t")):
            rest = body[6:].lstrip()
            start += len(body) - len(rest)
            body = rest
        eq = body.find("=")
        if eq < 0:
            raise fail("expected KEY=VALUE", line_no)
        key = body[:eq].strip()
        problem = key_problem(key)
        if problem:
            raise fail(problem, line_no)
        after = body[eq + 1 :]
        value = after.lstrip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            opening = start + eq + 1 + len(after) - len(value)
            parsed, close = _quoted(text, opening + 1, quote)
            if close < 0:
                raise fail(f"the value of {key} has no closing {quote}", line_no)
            last_line = line_no + text.count("\n", pos, close)
            tail_end = text.find("\n", close)
            tail_end = n if tail_end < 0 else tail_end
            tail = text[close:tail_end].strip()
            if tail and not tail.startswith("#"):
                raise fail(f"unexpected text after the quoted value of {key}", last_line)
            values[key] = parsed
            pos, line_no = tail_end + 1, last_line + 1
            continue
        hash_at = next(
            (j for j, c in enumerate(value) if c == "#" and (j == 0 or value[j - 1] in " \t")),
            None,
        )
        values[key] = (value if hash_at is None else value[:hash_at]).strip()
        pos, line_no = end + 1, line_no + 1
    return values


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def _quoted(text: str, pos: int, quote: str) -> tuple[str, int]:
    """The value of a quoted string starting at ``pos`` (after its opening quote) and the
    position after its closing quote; -1 if it does not close."""
    out: list[str] = []
    while pos < len(text):
        c = text[pos]
        if c == quote:
            return "".join(out), pos + 1
        if c == "\\" and quote == '"' and pos + 1 < len(text):
            nxt = text[pos + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            pos += 2
            continue
        out.append(c)
        pos += 1
    return "", -1


# -- publish-time resolution -----------------------------------------------------------------------


class PublishSecrets:
    """Secrets of an app being published: named ones checked before the app is created,
    inline ones uploaded (encrypted by the server, tied to the app) once it exists."""

    def __init__(
        self,
        client: _api.Client,
        functions: Mapping[str, Function],
        specs: dict[str, FunctionSpec],
    ) -> None:
        self._client = client
        self._specs = specs
        self._uses: dict[str, list[Secret]] = {
            tag: list(fn._options.secrets) for tag, fn in functions.items()
        }
        self._ids: dict[int, str] = {}  # id(secret) -> server id
        distinct: dict[int, Secret] = {}
        for secrets in self._uses.values():
            for s in secrets:
                distinct.setdefault(id(s), s)
        self._named = [s for s in distinct.values() if s._name is not None]
        self._inline = [s for s in distinct.values() if s._name is None]

    def check_named(self) -> None:
        """Resolve the named secrets; NotFoundError/InvalidError naming the first problem."""
        if not self._named:
            return
        resp = self._client.post(
            "/v1/secrets/resolve",
            {"secrets": [s._reference() for s in self._named]},
        )
        for s, sid in zip(self._named, resp["ids"]):
            self._ids[id(s)] = sid

    def upload_inline(self, app_id: str) -> None:
        """Store the inline secrets with the app, and write every function's secret list."""
        for s in self._inline:
            resp = self._client.post(
                "/v1/secrets/inline", {"id": request_id(), "app_id": app_id, "values": s._values}
            )
            self._ids[id(s)] = resp["id"]
        for tag, secrets in self._uses.items():
            refs = tuple(
                SecretRef(id=self._ids[id(s)], name=s._name, environment=s._environment)
                for s in secrets
            )
            self._specs[tag] = msgspec.structs.replace(self._specs[tag], secrets=refs)


# -- what `gw secret` does -------------------------------------------------------------------


def create_named(
    name: str,
    values: Mapping[str, str],
    *,
    force: bool = False,
    environment_name: str | None = None,
) -> bool:
    """Create the named secret (``force``: replace the values of an existing one); return
    whether one was replaced. ``AlreadyExistsError`` if it exists and ``force`` is not set."""
    problem = name_problem("secret", name) or values_problem(values)
    if problem:
        raise exc.InvalidError(problem)
    if not values:
        raise exc.InvalidError(f"secret {name!r} needs at least one KEY=VALUE")
    resp = _api.client().post(
        "/v1/secrets",
        {
            "id": request_id(),
            "name": name,
            "environment": environment_name or _config.environment(),
            "values": dict(values),
            "force": force,
        },
    )
    return bool(resp["replaced"])


def list_named(environment_name: str | None = None) -> list[dict[str, Any]]:
    """The environment's named secrets: name, keys (names only), created_at, updated_at."""
    env = environment_name or _config.environment()
    return list(_api.client().get(f"/v1/secrets?env={quote(env)}")["objects"])


def delete_named(name: str, *, environment_name: str | None = None) -> None:
    """Delete the named secret; ``NotFoundError`` if there is none."""
    env = environment_name or _config.environment()
    _api.client().post("/v1/secrets/delete", {"name": name, "environment": env})
