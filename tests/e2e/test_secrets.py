"""gw.Secret against a real control plane: injection into containers, publish-time checks,
values kept out of logs, listings and the database (encrypted at rest)."""

from __future__ import annotations

import hashlib
import os
import stat
import textwrap
import uuid

import pytest
from click.testing import CliRunner

os.environ["SV_LOCAL"] = "local-env-5e8b22"  # read by Secret.from_local_environ at import

import secret_volume_app as sva  # noqa: E402

import gworker_client as gw  # noqa: E402
from gworker.cli.main import cli  # noqa: E402
from gworker.store import Store  # noqa: E402
from gworker_client import _api  # noqa: E402
from gworker_client._protocol.objects import ObjectKind  # noqa: E402
from gworker_client._secret import create_named, list_named  # noqa: E402

NAMED_VALUE = "named-value-93ab04"
VALUES = {
    "SV_APP_LEVEL": "from-the-app",
    "SV_CLASH": "function",  # the function's own secret wins over the App's
    "SV_INLINE": "inline-7f3a9c1e",
    "SV_LOCAL": "local-env-5e8b22",
    "SV_DOTENV": "dotenv value with spaces",
    "SV_DOTENV_PLAIN": "plain-c0ffee",
    "SV_NAMED": NAMED_VALUE,
    "SV_NAMED_OTHER": "named-other-77d1",
}
SECRET_VALUES = [v for k, v in VALUES.items() if k not in ("SV_CLASH", "SV_APP_LEVEL")]


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def running(server):
    create_named(
        sva.NAMED_SECRET,
        {"SV_NAMED": NAMED_VALUE, "SV_NAMED_OTHER": "named-other-77d1"},
        force=True,
    )
    with sva.app.run():
        yield sva.app


def test_every_kind_of_secret_is_in_the_container_environment(running):
    keys = [*VALUES, "SV_CLS"]
    got = sva.env.remote(keys)
    assert got == {**{k: sha(v) for k, v in VALUES.items()}, "SV_CLS": None}
    # a class gets the App's secrets and its own; not another function's
    cls_env = sva.Reader().env.remote(["SV_CLS", "SV_APP_LEVEL", "SV_CLASH", "SV_INLINE"])
    assert cls_env == {
        "SV_CLS": sha("class-secret-41d2"),
        "SV_APP_LEVEL": sha("from-the-app"),
        "SV_CLASH": sha("app"),
        "SV_INLINE": None,
    }


def test_values_never_reach_logs_listings_or_the_database(running, server):
    sva.env.remote(["SV_NAMED"])  # the app ran with every secret
    listing = CliRunner().invoke(cli, ["secret", "list"], catch_exceptions=False).output
    assert sva.NAMED_SECRET in listing and "SV_NAMED_OTHER" in listing
    stored = b"".join(
        (server.home / name).read_bytes()
        for name in ("state.db", "state.db-wal")
        if (server.home / name).exists()
    )
    log = (server.home / "server.log").read_text()
    for value in SECRET_VALUES:
        assert value not in listing
        assert value not in log
        assert value.encode() not in stored  # encrypted at rest
    assert "SV_INLINE" in repr(sva.env._options.secrets)  # key names yes, values no
    for s in sva.env._options.secrets:
        assert all(v not in repr(s) for v in SECRET_VALUES)
    key = server.home / "secrets.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def _app_file(tmp_path, secret_line: str) -> tuple[str, str]:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name.replace('-', '_')}.py"
    path.write_text(
        textwrap.dedent(
            f"""
            import gworker_client as gw

            app = gw.App({name!r})

            @app.function(secrets=[{secret_line}])
            def f():
                return 1
            """
        )
    )
    return name, str(path)


def _app_names() -> set[str]:
    return {a["name"] for a in _api.client().get("/v1/apps")["apps"]}


def test_missing_named_secret_fails_gw_run_before_anything_starts(server, tmp_path):
    name, path = _app_file(tmp_path, 'gw.Secret.from_name("sv-no-such-secret")')
    result = CliRunner().invoke(cli, ["run", path])
    assert result.exit_code == 1
    assert "no secret named 'sv-no-such-secret' in environment 'main'" in result.output
    assert "gw secret create sv-no-such-secret" in result.output
    assert name not in _app_names()  # no app was created, so no container could start


def test_missing_required_key_fails_gw_deploy_naming_the_key_not_values(running, tmp_path):
    line = f'gw.Secret.from_name("{sva.NAMED_SECRET}", required_keys=["SV_NAMED", "SV_MISSING"])'
    name, path = _app_file(tmp_path, line)
    result = CliRunner().invoke(cli, ["deploy", path])
    assert result.exit_code == 1
    assert "has no key SV_MISSING" in result.output and "SV_NAMED_OTHER" in result.output
    assert NAMED_VALUE not in result.output
    assert name not in _app_names()


def test_from_local_environ_names_the_missing_variable_at_definition():
    with pytest.raises(gw.exception.InvalidError, match="SV_SURELY_UNSET_1 is not set"):
        gw.Secret.from_local_environ(["SV_LOCAL", "SV_SURELY_UNSET_1"])


def test_secrets_are_environment_scoped(server, monkeypatch):
    name = f"env-{uuid.uuid4().hex[:8]}"
    if "staging" not in {e.name for e in gw.environments.list_environments()}:
        gw.environments.create_environment("staging")
    create_named(name, {"K": "v"}, environment_name="staging")
    assert name in {s["name"] for s in list_named("staging")}
    assert name not in {s["name"] for s in list_named()}
    monkeypatch.setenv("GW_ENVIRONMENT", "staging")
    create_named(name, {"K": "w"}, force=True)  # the same name in the environment of GW_ENVIRONMENT
    with pytest.raises(gw.exception.AlreadyExistsError, match="--force"):
        create_named(name, {"K": "x"})


def test_secrets_survive_a_restart_and_stay_decryptable(private_server):
    create_named("durable", {"TOKEN": "durable-secret-0e1f"})
    private_server.restart()
    assert [s["keys"] for s in list_named() if s["name"] == "durable"] == [["TOKEN"]]
    private_server.kill()
    store = Store(private_server.home / "state.db")
    try:
        secret = store.object_by_name(ObjectKind.SECRET, "main", "durable")
        assert secret is not None
        assert store.secret_values(secret.id) == {"TOKEN": "durable-secret-0e1f"}
    finally:
        store.close()
