"""Placement decisions from what Ray nodes declare (``backends/ray_nodes.py``): pure, no Ray."""

from __future__ import annotations

from gworker.backends.ray_nodes import MIB, Request, candidates, choose, parse_nodes, summary
from gworker_client._protocol import GpuRequest


def _node(ip: str, cpu: float, gpus: int = 0, **extra: float) -> dict:
    resources = {"CPU": cpu, "memory": 4096 * MIB, **extra}
    if gpus:
        resources["GPU"] = gpus
    return {"NodeID": f"id-{ip}", "NodeManagerAddress": ip, "Alive": True, "Resources": resources}


NODES = parse_nodes(
    [
        _node("10.0.0.1", 8),
        _node("10.0.0.2", 8, 2, **{"gpu:A100-80GB": 2}),
        _node("10.0.0.3", 16, 8, **{"accelerator_type:H100": 1}),  # Ray detected these
        {**_node("10.0.0.4", 64, 8, **{"gpu:B200": 8}), "Alive": False},
    ]
)


def test_nodes_declare_gpus_through_gworkers_resource_or_rays_accelerator_type():
    by_ip = {n.ip: n for n in NODES}
    assert by_ip["10.0.0.1"].gpus is None
    a100 = by_ip["10.0.0.2"].gpus
    assert a100 and (a100.type, a100.count, a100.resource) == ("A100-80GB", 2, "gpu:A100-80GB")
    h100 = by_ip["10.0.0.3"].gpus
    assert h100 and (h100.type, h100.count, h100.accelerator) == ("H100", 8, "H100")
    assert summary(NODES) == "2x A100-80GB on 10.0.0.2, 8x H100 on 10.0.0.3"  # 10.0.0.4 is dead


def test_a_request_becomes_the_ray_resources_of_the_node_type_that_meets_it():
    (a100,) = candidates(1, 128, [GpuRequest("A100", 1)], NODES)  # the family meets the 80GB
    assert a100.actor_options() == {
        "num_cpus": 1,
        "memory": 128 * MIB,
        "num_gpus": 1,
        "resources": {"gpu:A100-80GB": 1},
    }
    (h100,) = candidates(1, 128, [GpuRequest("H100", 2)], NODES)
    assert h100.actor_options()["accelerator_type"] == "H100"
    assert h100.gpu_type == "H100"


def test_fallbacks_prefer_what_fits_now_then_what_exists():
    request = [GpuRequest("H100", 8), GpuRequest("A100-80GB", 1)]
    chosen, fits = choose(1, 128, request, NODES, {})
    assert chosen and chosen.gpu_type == "H100" and fits
    busy = {"id-10.0.0.3": {"gpus": 8}}  # the H100s are taken: the A100 fits now
    chosen, fits = choose(1, 128, request, NODES, busy)
    assert chosen and chosen.gpu_type == "A100-80GB" and fits
    both_busy = {**busy, "id-10.0.0.2": {"gpus": 2}}
    chosen, fits = choose(1, 128, request, NODES, both_busy)
    assert chosen and chosen.gpu_type == "H100" and not fits  # wait for the first choice


def test_any_gpu_asks_for_a_count_alone():
    (any_gpu,) = candidates(1, 128, [GpuRequest("any", 4)], NODES)
    assert any_gpu.actor_options() == {"num_cpus": 1, "memory": 128 * MIB, "num_gpus": 4}


def test_what_no_live_node_has_is_never_a_candidate():
    assert candidates(1, 128, [GpuRequest("B200", 1)], NODES) == []  # only on a dead node
    assert candidates(1, 128, [GpuRequest("A100-80GB", 4)], NODES) == []  # too many
    assert candidates(32, 128, None, NODES) == []  # more CPUs than any live node
    assert choose(32, 128, None, NODES, {}) == (None, False)
    assert candidates(2, 128, None, NODES) == [Request(2, 128)]
