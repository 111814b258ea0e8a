"""How ``launch.plan`` starts a container without a network, or with a sized writable layer."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gworker import constants as C
from gworker.backends.base import LaunchSpec
from gworker.backends.launch import CONTROL_DIR, LaunchError, plan
from gworker.backends.limits import Limiter
from gworker.images import BuiltImage


def _image(tmp_path: Path) -> BuiltImage:
    runtime = tmp_path / "runtime"
    runtime.mkdir(exist_ok=True)
    return BuiltImage("d", "k", tmp_path, (), "/usr/bin/python3", "3.11.2", runtime)


def _plan(tmp_path: Path, sockets: Path | None, **spec: object):
    launch = LaunchSpec("ct-1", "fn-1", "ap-1", {}, **spec)  # type: ignore[arg-type]
    return plan(launch, _image(tmp_path), [], None, Limiter(None, []), tmp_path, sockets)


def test_block_network_binds_the_control_sockets_and_points_the_runtime_there(tmp_path):
    sockets = tmp_path / "sockets"
    sockets.mkdir()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sockets / C.API_SOCKET))
        launch = _plan(tmp_path, sockets, block_network=True)
    assert launch.env["GW_SERVER_SOCKET"] == f"{CONTROL_DIR}/{C.API_SOCKET}"
    assert launch.env["GW_CHANNEL_SOCKET"] == f"{CONTROL_DIR}/{C.CHANNEL_SOCKET}"
    at = launch.argv.index(CONTROL_DIR)
    assert launch.argv[at - 2 : at] == ["--ro-bind", str(sockets)]
    assert "GW_SERVER_SOCKET" not in _plan(tmp_path, None).env


def test_block_network_is_refused_where_the_control_plane_has_no_socket(tmp_path):
    # a Ray node: the control plane's sockets are on another machine
    with pytest.raises(LaunchError, match="block_network=True needs the control plane's unix"):
        _plan(tmp_path, None, block_network=True)
    with pytest.raises(LaunchError, match="API socket .* is missing"):
        _plan(tmp_path, tmp_path, block_network=True)


def test_a_sized_writable_layer_holds_tmp(tmp_path):
    argv = _plan(tmp_path, None, ephemeral_disk_mib=64).argv
    assert argv[argv.index("/tmp") - 1] == "--dir"
    argv = _plan(tmp_path, None).argv
    assert argv[argv.index("/tmp") - 1] == "--tmpfs"


def test_control_sockets_fit_a_socket_address(tmp_path):
    assert C.control_sockets(tmp_path) == tmp_path / "sockets"
    deep = tmp_path / ("x" * 120)
    where = C.control_sockets(deep)
    assert len(str(where / C.CHANNEL_SOCKET)) < 108
    assert where == C.control_sockets(deep) and (where.stat().st_mode & 0o777) == 0o700
    where.rmdir()
