"""``gw dict ...`` and ``gw queue ...`` against a real control plane."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner, Result

import gworker_client as gw
from gworker.cli.main import cli


def gw_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def name(server) -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


def test_dict_commands(name):
    assert gw_cli("dict", "create", name).exit_code == 0
    again = gw_cli("dict", "create", name)
    assert again.exit_code == 1 and "already exists" in again.output
    d = gw.Dict.from_name(name)
    d.update({"a": [1, 2], "b": "text"})
    listed = gw_cli("dict", "list")
    assert name in listed.output and "created" in listed.output
    row = next(line for line in listed.output.splitlines() if name in line)
    assert " 2 " in row
    assert gw_cli("dict", "get", name, "b").stdout == "'text'\n"
    missing = gw_cli("dict", "get", name, "nope")
    assert missing.exit_code == 1 and "has no key 'nope'" in missing.output
    assert gw_cli("dict", "items", name).stdout.splitlines() == ["'a': [1, 2]", "'b': 'text'"]
    assert "1 more" in gw_cli("dict", "items", name, "-n", "1").output
    assert gw_cli("dict", "clear", name, "--yes").exit_code == 0
    assert len(d) == 0
    assert gw_cli("dict", "delete", name, "--yes").exit_code == 0
    gone = gw_cli("dict", "get", name, "b")
    assert gone.exit_code == 1 and f"no dict named {name!r}" in gone.output


def test_queue_commands(name):
    assert gw_cli("queue", "create", name).exit_code == 0
    q = gw.Queue.from_name(name)
    q.put_many([{"job": 1}, {"job": 2}])
    q.put("p", partition="p")
    listed = gw_cli("queue", "list")
    row = next(line for line in listed.output.splitlines() if name in line)
    assert " 3 " in row
    assert gw_cli("queue", "peek", name).stdout == "{'job': 1}\n"
    assert gw_cli("queue", "peek", name, "-n", "5").stdout.splitlines() == [
        "{'job': 1}",
        "{'job': 2}",
    ]
    assert gw_cli("queue", "peek", name, "--partition", "p").stdout == "'p'\n"
    assert gw_cli("queue", "len", name).stdout == "2\n"
    assert gw_cli("queue", "len", name, "--total").stdout == "3\n"
    assert gw_cli("queue", "clear", name, "--yes").exit_code == 0
    assert q.len(total=True) == 1
    assert gw_cli("queue", "clear", name, "--all", "--yes").exit_code == 0
    assert q.len(total=True) == 0
    declined = CliRunner().invoke(cli, ["queue", "delete", name], input="n\n")
    assert declined.exit_code == 1 and q.len() == 0  # still there
    assert gw_cli("queue", "delete", name, "--yes").exit_code == 0
    gone = gw_cli("queue", "len", name)
    assert gone.exit_code == 1 and "create_if_missing=True" in gone.output


def test_invalid_name_is_a_clear_error(server):
    result = gw_cli("queue", "create", "bad name")
    assert result.exit_code == 1 and "is not valid" in result.output
