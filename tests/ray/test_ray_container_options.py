"""Modal's container options on the Ray backend: retiring containers and a sized writable layer
work as on the local backend; a container without a network cannot start on a node (the control
plane's unix sockets are not there) and says so."""

from __future__ import annotations

import container_options_app as apps
import pytest
from container_options_app import app

import gworker_client as gw


def test_retiring_containers_and_ephemeral_disk_on_ray(on_ray):
    with app.run():
        results = [apps.single.remote(n) for n in range(2)]
        written, error = apps.fill_disk.remote("/root/big")
    assert len({cid for _, cid in results}) == 2
    assert error == "ENOSPC" and 32 <= written < 64


def test_block_network_is_refused_on_ray_naming_why(on_ray):
    with app.run(), pytest.raises(gw.exception.Error, match="block_network=True needs the control"):
        apps.offline.remote(1, "unused")
