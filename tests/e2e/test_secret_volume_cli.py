"""``gw secret ...`` and ``gw volume ...`` against a real control plane."""

from __future__ import annotations

import os
import textwrap
import uuid

import pytest
from click.testing import CliRunner, Result

import gworker_client as gw
from gworker.cli.main import cli
from gworker_client import _api


def gw_cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def name(server) -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


def _row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if name in line)


def test_secret_create_list_replace_delete(name, tmp_path):
    created = gw_cli("secret", "create", name, "API_KEY=s3cr3t-a1", "URL=http://x/?a=b")
    assert created.exit_code == 0 and "created secret" in created.output
    assert "API_KEY" in created.output and "URL" in created.output
    assert "s3cr3t-a1" not in created.output
    again = gw_cli("secret", "create", name, "API_KEY=s3cr3t-a2")
    assert again.exit_code == 1 and "already exists" in again.output and "--force" in again.output
    assert "s3cr3t-a2" not in again.output
    dotenv = tmp_path / ".env"
    dotenv.write_text("FROM_FILE='f1le-v4lue'\nAPI_KEY=overridden\n")
    replaced = gw_cli(
        "secret", "create", name, "--from-dotenv", str(dotenv), "API_KEY=s3cr3t-a3", "--force"
    )
    assert replaced.exit_code == 0 and "replaced secret" in replaced.output
    listed = gw_cli("secret", "list")
    assert "API_KEY" in _row(listed.output, name) and "FROM_FILE" in listed.output
    for value in ("s3cr3t", "f1le-v4lue", "overridden"):
        assert value not in listed.output
    declined = gw_cli("secret", "delete", name, input="n\n")
    assert declined.exit_code == 1 and name in gw_cli("secret", "list").output
    assert gw_cli("secret", "delete", name, "--yes").exit_code == 0
    assert name not in gw_cli("secret", "list").output
    gone = gw_cli("secret", "delete", name, "--yes")
    assert gone.exit_code == 1 and f"no secret named {name!r}" in gone.output


def test_secret_create_refuses_bad_arguments_without_echoing_them(name):
    bad = gw_cli("secret", "create", name, "just-a-value-9d1")
    assert bad.exit_code == 1 and "is not KEY=VALUE" in bad.output
    assert "just-a-value-9d1" not in bad.output
    assert (
        "not a valid environment variable name" in gw_cli("secret", "create", name, "1X=y").output
    )
    assert gw_cli("secret", "create", name).exit_code == 2  # no values at all


def test_volume_commands(name, tmp_path):
    assert gw_cli("volume", "create", name).exit_code == 0
    assert "already exists" in gw_cli("volume", "create", name).output
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "a.txt").write_text("a")
    (tmp_path / "src" / "sub" / "b.txt").write_text("bb")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024))  # shows a progress bar
    assert gw_cli("volume", "put", name, str(tmp_path / "src"), "/tree").exit_code == 0
    assert gw_cli("volume", "put", name, str(big), "/blobs/").exit_code == 0
    assert gw_cli("volume", "put", name, str(big)).exit_code == 0  # to the root, by its name
    again = gw_cli("volume", "put", name, str(big))
    assert again.exit_code == 1 and "--force" in again.output
    assert gw_cli("volume", "put", name, str(big), "--force").exit_code == 0

    listed = gw_cli("volume", "list")
    assert " 4 " in _row(listed.output, name) and "MiB" in _row(listed.output, name)
    top = gw_cli("volume", "ls", name).output
    assert "tree/" in top and "blobs/" in top and "big.bin" in top
    deep = gw_cli("volume", "ls", name, "/tree", "-r").output
    assert "tree/sub/b.txt" in deep and "tree/a.txt" in deep

    out = tmp_path / "out"
    assert gw_cli("volume", "get", name, "/tree", str(out)).exit_code == 0
    assert (out / "a.txt").read_text() == "a" and (out / "sub" / "b.txt").read_text() == "bb"
    exists = gw_cli("volume", "get", name, "/tree", str(out))
    assert exists.exit_code == 1 and "--force" in exists.output
    assert gw_cli("volume", "get", name, "/tree", str(out), "--force").exit_code == 0
    assert gw_cli("volume", "get", name, "/blobs/big.bin", str(out) + "/").exit_code == 0
    assert (out / "big.bin").read_bytes() == big.read_bytes()
    assert gw_cli("volume", "get", name, "tree/a.txt", "-").stdout == "a"

    assert gw_cli("volume", "rm", name, "/tree").exit_code == 1  # a directory needs -r
    assert gw_cli("volume", "rm", name, "/tree", "-r").exit_code == 0
    assert gw_cli("volume", "rm", name, "/big.bin").exit_code == 0
    assert "tree" not in gw_cli("volume", "ls", name).output
    escape = gw_cli("volume", "ls", name, "../etc")
    assert escape.exit_code == 1 and "cannot leave the volume" in escape.output
    assert gw_cli("volume", "delete", name, "--yes").exit_code == 0
    gone = gw_cli("volume", "ls", name)
    assert gone.exit_code == 1 and f"no volume named {name!r}" in gone.output


def test_missing_volume_fails_gw_run_before_anything_starts(name, tmp_path):
    app_name = f"novol-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{app_name.replace('-', '_')}.py"
    path.write_text(
        textwrap.dedent(
            f"""
            import gworker_client as gw

            app = gw.App({app_name!r})

            @app.function(volumes={{"/data": gw.Volume.from_name({name!r})}})
            def f():
                return 1
            """
        )
    )
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 1
    assert f"no volume named {name!r}" in result.output and "create_if_missing" in result.output
    assert app_name not in {a["name"] for a in _api.client().get("/v1/apps")["apps"]}
    with pytest.raises(gw.exception.NotFoundError):
        gw.Volume.from_name(name).hydrate()  # and it was not created
