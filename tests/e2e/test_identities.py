"""Named tokens with roles, revocation and the audit log, through the real CLI and server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

import gworker_client as gw
from gworker_client import _api


def _new(server, user: str, role: str) -> dict[str, str]:
    r = server.gw("token", "new", "--user", user, "--role", role, "--json")
    assert r.returncode == 0, r.stderr
    token = json.loads(r.stdout)
    assert token["token_id"].startswith("tk-") and token["token_secret"]
    assert (token["user"], token["role"]) == (user, role)
    return token


def _as(server, token: dict[str, str]) -> dict[str, str]:
    return {"GW_TOKEN_ID": token["token_id"], "GW_TOKEN_SECRET": token["token_secret"]}


def _client(server, token: dict[str, str]) -> _api.Client:
    from gworker_client._config import Credentials

    return _api.Client(server.url, Credentials(token["token_id"], token["token_secret"]))


def test_roles_limit_what_a_token_may_do(private_server):
    srv = private_server  # the zero-config token (GW_HOME/token.json) is an admin
    viewer, dev = _new(srv, "vic", "viewer"), _new(srv, "dee", "developer")

    # viewers read, and nothing more
    r = srv.gw("dict", "list", env=_as(srv, viewer))
    assert r.returncode == 0, r.stderr
    with pytest.raises(gw.exception.AuthError, match="vic has the viewer role.*needs developer"):
        _client(srv, viewer).post("/v1/dicts", {"id": "di-" + "1" * 20, "name": "by-viewer"})

    # developers create objects and run apps, but do not manage secrets or tokens
    d = gw.Dict.from_name("team-dict", create_if_missing=True)
    d["k"] = "v"
    r = srv.gw("secret", "create", "dev-secret", "A=1", env=_as(srv, dev))
    assert r.returncode != 0 and "needs admin" in r.stderr, r.stderr
    r = srv.gw("token", "new", "--user", "sneaky", "--role", "admin", env=_as(srv, dev))
    assert r.returncode != 0 and "needs admin" in r.stderr, r.stderr
    with pytest.raises(gw.exception.AuthError, match="needs admin"):
        _client(srv, dev).post("/v1/tokens", {"user": "x", "role": "admin"})

    # admins do
    r = srv.gw("secret", "create", "admin-secret", "A=1")
    assert r.returncode == 0, r.stderr


def test_revoked_tokens_are_refused_and_the_last_admin_stays(private_server):
    srv = private_server
    dev = _new(srv, "dee", "developer")
    assert _client(srv, dev).get("/v1/dicts")  # works before
    r = srv.gw("token", "revoke", dev["token_id"])
    assert r.returncode == 0, r.stderr
    with pytest.raises(gw.exception.AuthError, match="was revoked"):
        _client(srv, dev).get("/v1/dicts")
    listed = json.loads(srv.gw("token", "list", "--json").stdout)
    by_id = {t["token_id"]: t for t in listed}
    assert by_id[dev["token_id"]]["revoked"] and "token_secret" not in by_id[dev["token_id"]]
    admin_id = srv.env["GW_TOKEN_ID"]
    assert by_id[admin_id]["role"] == "admin"
    r = srv.gw("token", "revoke", admin_id)
    assert r.returncode != 0 and "last admin token" in r.stderr, r.stderr


def test_mutating_requests_are_audited(private_server):
    srv = private_server
    dev = _new(srv, "dee", "developer")
    srv.gw("dict", "create", "audited", env=_as(srv, dev))
    srv.gw("secret", "create", "nope", "A=1", env=_as(srv, dev))  # refused: audited as a 403
    srv.gw("dict", "list", env=_as(srv, dev))  # a read: not audited
    r = srv.gw("server", "audit", "--json")
    assert r.returncode == 0, r.stderr
    entries = [json.loads(line) for line in r.stdout.splitlines()]
    mine = [(e["who"], e["method"], e["path"], e["status"]) for e in entries if e["who"] == "dee"]
    assert ("dee", "POST", "/v1/dicts", 200) in mine, entries
    assert ("dee", "POST", "/v1/secrets", 403) in mine, entries
    assert not [e for e in entries if e["method"] == "GET"]
    assert all(e["time"] and e["role"] for e in entries)
    token_rows = [e for e in entries if e["path"] == "/v1/tokens"]
    assert token_rows and token_rows[0]["role"] == "admin"


def _refused_with(srv, path: str, authorization: str | None) -> int:
    headers = {"Authorization": authorization} if authorization else {}
    req = urllib.request.Request(srv.url + path, headers=headers, method="GET")
    try:
        urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as e:
        return e.code
    return 200


def test_refused_requests_are_audited_without_secrets(private_server):
    srv = private_server
    viewer = _new(srv, "vic", "viewer")
    assert _refused_with(srv, "/v1/apps?no-token", None) == 401
    assert _refused_with(srv, "/v1/apps?bad-secret", "Bearer tk-bogus:very-secret-value") == 401
    assert _refused_with(srv, "/v1/apps?bare-secret", "Bearer only-a-secret-value") == 401
    with pytest.raises(gw.exception.AuthError, match="needs admin"):
        _client(srv, viewer).get("/v1/audit")  # a read refused for its role
    r = srv.gw("server", "audit", "--refused", "--json")
    assert r.returncode == 0, r.stderr
    assert "very-secret-value" not in r.stdout and "only-a-secret-value" not in r.stdout
    entries = [json.loads(line) for line in r.stdout.splitlines()]
    assert all(e["status"] in (401, 403) for e in entries), entries
    seen = {(e["method"], e["path"], e["status"], e["token_id"], e["who"]) for e in entries}
    assert ("GET", "/v1/apps", 401, "", "-") in seen, seen
    assert ("GET", "/v1/apps", 401, "tk-bogus", "-") in seen, seen
    assert ("GET", "/v1/audit", 403, viewer["token_id"], "vic") in seen, seen
    assert all(e["remote"] == "127.0.0.1" for e in entries), entries
    table = srv.gw("server", "audit", "--refused", env={"COLUMNS": "250"})
    assert table.returncode == 0 and "tk-bogus" in table.stderr + table.stdout, table
    everything = [json.loads(x) for x in srv.gw("server", "audit", "--json").stdout.splitlines()]
    assert any(e["status"] == 200 for e in everything)  # the unfiltered log has the rest too
