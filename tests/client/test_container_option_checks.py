"""Modal's container options (max_inputs, single_use_containers, block_network, ephemeral_disk,
enable_memory_snapshot, nonpreemptible) are validated at decoration and reach the spec."""

from __future__ import annotations

import msgspec
import pytest

import gworker_client as gw
from gworker_client._cls import build_cls
from gworker_client._options import parse_options
from gworker_client._protocol import spec_problem
from gworker_client._variant import parse_overrides


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_inputs": 0}, r"max_inputs=0\): expected an int >= 1"),
        ({"max_inputs": True}, r"max_inputs=True\): expected an int >= 1"),
        ({"max_inputs": 1.5}, r"max_inputs=1.5\)"),
        ({"max_inputs": 3, "single_use_containers": True}, r"give one of the two"),
        ({"single_use_containers": 1}, r"single_use_containers=1\): expected True or False"),
        ({"block_network": "yes"}, r"block_network='yes'\): expected True or False"),
        ({"nonpreemptible": 0}, r"nonpreemptible=0\): expected True or False"),
        ({"enable_memory_snapshot": "on"}, r"enable_memory_snapshot='on'"),
        ({"ephemeral_disk": 0}, r"ephemeral_disk=0\): expected an int of MiB from 1"),
        ({"ephemeral_disk": True}, r"ephemeral_disk=True\)"),
        ({"ephemeral_disk": 1.5}, r"ephemeral_disk=1.5\)"),
        ({"ephemeral_disk": 4 * 1024 * 1024}, r"at most 3145728 MiB"),
        ({"experimental_options": {"fabric_size": 2}}, r"'fabric_size'.*enable_gpu_snapshot"),
        ({"experimental_options": ["x"]}, r"experimental_options=\['x'\]\): expected a dict"),
        (
            {"experimental_options": {"enable_gpu_snapshot": True}},
            r"add enable_memory_snapshot=True",
        ),
    ],
)
def test_bad_container_options(kwargs, message):
    with pytest.raises(gw.exception.InvalidError, match=message):
        parse_options(kwargs)


def test_container_options_reach_the_spec():
    spec = parse_options({"max_inputs": 5, "block_network": True, "ephemeral_disk": 512}).to_spec()
    assert (spec.retire_after, spec.block_network, spec.ephemeral_disk) == (5, True, 512)
    assert parse_options({"single_use_containers": True}).to_spec().retire_after == 1
    assert parse_options({"max_inputs": 1, "single_use_containers": True}).max_inputs == 1
    plain = parse_options({"nonpreemptible": True}).to_spec()
    assert (plain.retire_after, plain.block_network, plain.ephemeral_disk) == (None, False, None)
    opts = parse_options(
        {"enable_memory_snapshot": True, "experimental_options": {"enable_gpu_snapshot": True}}
    )
    assert opts.enable_gpu_snapshot


def test_the_server_checks_the_spec_too():
    spec = parse_options({}).to_spec()
    image = {"base": "x"}
    assert spec_problem(msgspec.structs.replace(spec, image=image, retire_after=0)) is not None
    assert spec_problem(msgspec.structs.replace(spec, image=image, ephemeral_disk=0)) is not None
    assert spec_problem(msgspec.structs.replace(spec, image=image, ephemeral_disk=64)) is None


@pytest.mark.parametrize(
    "option",
    [
        {"max_inputs": 1},
        {"single_use_containers": True},
        {"block_network": True},
        {"ephemeral_disk": 64},
        {"enable_memory_snapshot": True},
        {"nonpreemptible": True},
    ],
)
def test_with_options_refuses_what_modal_refuses_there(option):
    with pytest.raises(gw.exception.InvalidError, match=r"not an option of with_options"):
        parse_overrides(option, "f.with_options", "@app.function(...)")


def test_snap_hooks_need_enable_memory_snapshot_and_run_first():
    app = gw.App("snap-checks")
    with pytest.raises(gw.exception.InvalidError, match=r"needs the class to have"):

        @app.cls()
        class NoSnapshots:
            @gw.enter(snap=True)
            def load(self):
                pass

            @gw.method()
            def run(self):
                pass

    with pytest.raises(gw.exception.InvalidError, match=r"snap='yes'\): expected True or False"):
        gw.enter(snap="yes")

    class Snapshots:
        @gw.enter()
        def late(self):
            pass

        @gw.enter(snap=True)
        def early(self):
            pass

        @gw.method()
        def run(self):
            pass

    options = parse_options({"enable_memory_snapshot": True}, decorator="@app.cls")
    _, service = build_cls(Snapshots, options, [], None)
    assert service._spec().enter == ("early", "late")


def test_block_network_refuses_bucket_mounts_which_need_the_network():
    bucket = gw.CloudBucketMount("bucket", bucket_endpoint_url="http://127.0.0.1:9000")
    with pytest.raises(gw.exception.InvalidError, match=r"cannot reach the bucket"):
        parse_options({"block_network": True, "volumes": {"/b": bucket}})
    app = gw.App("offline-buckets", volumes={"/b": bucket})
    with pytest.raises(gw.exception.InvalidError, match=r"cannot reach the bucket"):
        app.function(block_network=True)
