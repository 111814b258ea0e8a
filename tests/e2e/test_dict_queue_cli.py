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


class Planted:
    """A value whose unpickling runs code: here, creating a file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_inspection_unpickles_only_plain_data(name, tmp_path):
    marker = tmp_path / "planted-code-ran"
    d = gw.Dict.from_name(name, create_if_missing=True)
    d["plain"] = {"n": [1, 2.5, None, True], "s": {"a"}, "f": frozenset({1}), "b": b"x", "c": 1j}
    d["planted"] = Planted(str(marker))
    q = gw.Queue.from_name(name, create_if_missing=True)
    q.put(Planted(str(marker)))

    shown = gw_cli("dict", "items", name).stdout
    assert "'plain': {'n': [1, 2.5, None, True], 's': {'a'}, 'f': frozenset({1})" in shown
    assert "'planted': <a pickled io.open" in shown and "--unsafe-unpickle shows it" in shown
    assert "not plain data" in gw_cli("dict", "get", name, "planted").stdout
    assert "<a pickled io.open" in gw_cli("queue", "peek", name).stdout
    assert not marker.exists()

    unsafe = gw_cli("dict", "get", name, "planted", "--unsafe-unpickle")
    assert "warning" in unsafe.output and "runs whatever code" in unsafe.output
    assert marker.exists()  # opted in: the value's code ran
