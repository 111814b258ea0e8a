"""Bad input gets a clear error that names the bad value, before any container starts."""

from __future__ import annotations

import basic_app
import pytest

import gworker_client as gw
from gworker_client import _api, _config


def test_calling_an_app_that_is_not_running_says_how(server):
    with pytest.raises(gw.exception.ExecutionError, match="app.run"):
        basic_app.square.remote(2)


def test_from_name_of_an_app_never_deployed(server):
    with pytest.raises(gw.exception.NotFoundError, match="no deployed app named 'nope'"):
        gw.Function.from_name("nope", "f").remote()


def test_names_with_query_characters_reach_the_lookup_as_they_are(server):
    for from_name in (gw.Function.from_name, gw.Cls.from_name, gw.Server.from_name):
        with pytest.raises(gw.exception.NotFoundError, match="no deployed app named 'a&x=1 #b'"):
            handle = from_name("a&x=1 #b", "f")
            handle.hydrate()


def test_wrong_token_is_refused_with_a_hint(server):
    bad = _api.Client(server.url, _config.Credentials("tk-bad", "secret"))
    with pytest.raises(gw.exception.AuthError, match="is not valid.*gw token new"):
        bad.get("/v1/apps")


def test_missing_token_is_refused_with_a_hint(server):
    anonymous = _api.Client(server.url, None)
    with pytest.raises(gw.exception.AuthError, match="carries no gworker token"):
        anonymous.get("/v1/apps")


def test_unreachable_server_url_fails_fast():
    client = _api.Client("http://127.0.0.1:9", None)
    with pytest.raises(gw.exception.ConnectionError, match="cannot reach the gworker server"):
        client.get("/v1/health")


def test_malformed_server_url():
    with pytest.raises(gw.exception.InvalidError, match="not a valid URL"):
        _api.Client("localhost:7411", None)
