"""Property-based fuzzing of every API route against a real server of its own.

Hypothesis sends bodies, query strings and path parameters of every shape (junk bytes, wrong
types, huge and negative integers, NaN, nested maps) to every route the server registers,
authenticated as its admin. Whatever it sends, the server answers below 500, stays responsive,
and restarts afterwards able to run a function. The budget is bounded (a few hundred examples,
derandomized so a run is reproducible).
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import pkgutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gworker.server as server_pkg
from gworker import daemon
from gworker_client import _api
from gworker_client._protocol import messages, sandbox

APPS = Path(__file__).parent.parent / "apps"
EXAMPLES = int(os.environ.get("GW_FUZZ_EXAMPLES", "300"))
# a long-poll asked for by a fuzzed number waits at most this long (values are kept below it)
SHORT_WAITS = (-1, 0, 0.01, math.nan, -math.inf, "abc", None, [], {})
WAIT_KEYS = {"timeout", "wait"}


def _routes() -> list[tuple[str, str]]:
    """Every (method, path) any route module of the server registers, found by walking the
    package: a route added later is fuzzed without touching this file."""
    found: set[tuple[str, str]] = set()
    for info in pkgutil.walk_packages(server_pkg.__path__, server_pkg.__name__ + "."):
        module = importlib.import_module(info.name)
        table = getattr(module, "routes", None)
        for route in table or ():
            method, path = getattr(route, "method", None), getattr(route, "path", None)
            if isinstance(method, str) and isinstance(path, str):
                found.add((method, path))
    return sorted(found)


def _field_names() -> list[str]:
    names = {
        "after", "all", "app", "app_id", "changes", "create", "data", "deletions", "env",
        "environment", "final", "force", "get_id", "id", "if_absent", "items", "key", "method",
        "mode", "n", "name", "offset", "partition", "path", "put_id", "recursive", "ref",
        "secrets", "sha", "skip_if_exists", "spec", "stream", "timeout", "total", "ttl",
        "value", "values", "version", "wait", "slots", "outputs", "inputs", "call_id",
        "functions", "module", "code_blob", "tag", "params", "overrides", "mtime", "size",
    }  # fmt: skip
    for module in (messages, sandbox):
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, msgspec.Struct):
                names.update(obj.__struct_fields__)
    return sorted(names)


ROUTES = _routes()
FIELDS = _field_names()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what msgpack can carry
    st.sampled_from([0, 1, -1, 2**31, 2**63 - 1, 2**63, 2**64 - 1, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["main", "fc-", "ap-", "fu-", "di-" + "0" * 20, "x" * 300, "../../etc"]),
    st.binary(max_size=64),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["map", "map", "map", "junk", "empty", "other"]))
    if kind == "junk":
        return draw(st.binary(max_size=64))
    if kind == "empty":
        return b""
    if kind == "other":
        return msgpack.packb(draw(values), use_bin_type=True)
    body: dict[Any, Any] = {}
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=6, unique=True)):
        if key in WAIT_KEYS:
            body[key] = draw(st.sampled_from(SHORT_WAITS))
        elif key in PLAUSIBLE and draw(st.booleans()):
            # a valid value for the key, so that the next field's check is reached
            body[key] = draw(st.sampled_from(PLAUSIBLE[key]))
        else:
            body[key] = draw(values)
    return msgpack.packb(body, use_bin_type=True)


PLAUSIBLE: dict[str, list[Any]] = {
    "name": ["fuzz-a", "fuzz-b", "basic"],
    "mode": ["ephemeral", "deployed"],
    "environment": ["main", "other"],
    "create": [True],
    "app_id": ["ap-" + "0" * 20],
    "call_id": ["fc-" + "0" * 32],
    "id": ["0" * 32, "di-" + "0" * 20, "sc-" + "0" * 20],
    "put_id": ["0123456789abcdef"],
    "get_id": ["0123456789abcdef"],
    "partition": [None, "p1"],
    "key": [b"\x80\x04K\x01."],
    "values": [[b"\x80\x04K\x01."], {"A": "1"}],
    "items": [[[b"\x80\x04K\x01.", b"\x80\x04K\x02."]]],
    "sha": ["0" * 64],
    "path": ["/a.txt", "/"],
    "spec": [{}, {"python": "3.11"}],
    "inputs": [[[0, b"\x80\x04K\x01."]]],
    "secrets": [[{"name": "fuzz-a"}]],
    "changes": [[["/a", "0" * 64, 1, 420, 1.0]]],
    "n": [1, 10],
    "offset": [0],
    "length": [1],
}


@st.composite
def queries(draw: st.DrawFn) -> str:
    params = {}
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        if key in WAIT_KEYS:
            params[key] = str(draw(st.sampled_from(SHORT_WAITS)))
        else:
            params[key] = draw(
                st.one_of(
                    st.text(max_size=20),
                    st.integers(min_value=-(2**70), max_value=2**70).map(str),
                    st.sampled_from(["nan", "inf", "-1", "1e400", "main", ""]),
                )
            )
    return urllib.parse.urlencode(params)


class Target:
    """The fuzzed server and the ids of real objects, so paths reach past the 404s."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc = daemon.spawn_server(home, env=_server_env())
        self.url = daemon.wait_until_up(home, self.proc)["url"]
        token = json.loads((home / "token.json").read_text())
        self.auth = f"Bearer {token['token_id']}:{token['token_secret']}"
        self.container_auth: str | None = None  # a running container's own token
        self.ids: dict[str, list[str]] = {}

    def send(self, method: str, path: str, data: bytes | None, auth: str | None = None) -> int:
        req = urllib.request.Request(
            self.url + path,
            data=data if method not in ("GET", "HEAD") else None,
            method=method,
            headers={"Authorization": auth or self.auth, "Content-Type": "application/msgpack"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                resp.read()
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def _container_token(home: Path) -> str | None:
    """The token of the deployed app's warm container, from its environment in /proc (the
    tests run as the containers' owner or root); None where it cannot be read."""
    db = sqlite3.connect(home / "state.db")
    for _ in range(600):  # its container starts in the background (min_workers=1)
        rows = db.execute("SELECT pid FROM containers WHERE state = 'running'").fetchall()
        for (pid,) in rows:
            try:
                raw = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                return None
            env = dict(e.split("=", 1) for e in raw.decode().split("\0") if "=" in e)
            if "GW_TOKEN_SECRET" in env:
                return f"Bearer {env['GW_TOKEN_ID']}:{env['GW_TOKEN_SECRET']}"
        time.sleep(0.1)  # waiting for another process to start: nothing to block on
    return None


def _server_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GW_")}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    t = Target(tmp_path_factory.mktemp("fuzz-home"))
    saved = dict(os.environ)
    token = json.loads((t.home / "token.json").read_text())
    os.environ.update(
        GW_HOME=str(t.home),
        GW_SERVER_URL=t.url,
        GW_TOKEN_ID=token["token_id"],
        GW_TOKEN_SECRET=token["token_secret"],
    )
    _api.reset_client()
    from basic_app import app, square

    import gworker_client as gw

    with app.run():  # real ids for paths: an app, a function, a call
        call = square.spawn(3)
        assert call.get() == 9
        t.ids = {
            "app_id": [app.app_id],
            "fid": [square.object_id],
            "call_id": [call.object_id],
        }
        d = gw.Dict.from_name("fuzz-dict", create_if_missing=True)
        d["k"] = 1
        q = gw.Queue.from_name("fuzz-queue", create_if_missing=True)
        q.put("item")
        v = gw.Volume.from_name("fuzz-volume", create_if_missing=True)
        with v.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"content"), "/file.txt")
        t.ids["object_id"] = [d.object_id, q.object_id, v.object_id]
        t.ids["digest"] = [p.name for p in (t.home / "blobs").glob("*/*")]
    r = subprocess.run(
        [sys.executable, "-m", "gworker.cli", "deploy", str(APPS / "graceful_app.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    t.container_auth = _container_token(t.home)
    try:
        yield t
    finally:
        if t.proc.poll() is None:
            t.stop()
        os.environ.clear()
        os.environ.update(saved)
        _api.reset_client()


@st.composite
def requests(draw: st.DrawFn, ids: dict[str, list[str]]) -> tuple[str, str, bytes | None]:
    method, template = draw(st.sampled_from(ROUTES))
    path = template
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        name, _, pattern = path[start + 1 : end].partition(":")
        known = ids.get(name, []) + (pattern.split("|") if pattern else [])
        value = draw(
            st.one_of(
                st.sampled_from(known) if known else st.nothing(),
                st.sampled_from(known) if known else st.nothing(),
                st.sampled_from(known) if known else st.nothing(),
                st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=30),
                st.sampled_from(["0" * 64, "ct-" + "0" * 20, "x" * 200]),
            )
        )
        path = path[:start] + urllib.parse.quote(value, safe="") + path[end + 1 :]
    query = draw(queries())
    data = draw(bodies()) if method in ("POST", "PUT", "DELETE", "PATCH") else None
    return method, path + (f"?{query}" if query else ""), data


def test_no_route_answers_500_and_the_server_survives(target: Target) -> None:
    failures: list[str] = []
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not os.environ.get("GW_FUZZ_RANDOM"),
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        method, path, body = data.draw(requests(target.ids))
        # a third of the requests come from a container, whose token scope.py confines
        as_container = target.container_auth and data.draw(st.integers(0, 2)) == 0
        status = target.send(method, path, body, target.container_auth if as_container else None)
        seen[status] = seen.get(status, 0) + 1
        if status >= 500 and status != 503:
            who = "container" if as_container else "admin"
            failures.append(f"{status} {method} {path} as {who} body={body!r:.200}")

    fuzz()
    print(f"statuses over {sum(seen.values())} requests: {dict(sorted(seen.items()))}")
    assert not failures, "\n".join(failures[:20])
    assert target.send("GET", "/v1/health", None) == 200
    assert target.send("GET", "/v1/status", None) == 200
    log = (target.home / "server.log").read_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 300 :][:3000]

    # a restart after all that, and a function runs
    target.stop()
    target.proc = daemon.spawn_server(
        target.home, port=int(target.url.rsplit(":", 1)[1]), env=_server_env()
    )
    daemon.wait_until_up(target.home, target.proc)
    _api.reset_client()
    from basic_app import app, square

    with app.run():
        assert square.remote(uuid.uuid4().int % 1000) >= 0
