"""Option overrides for variants: parsed as the decorators parse them, applied to a spec."""

from __future__ import annotations

import pytest

import gworker_client as gw
from gworker_client._protocol import (
    Batching,
    Concurrency,
    FunctionSpec,
    GpuRequest,
    MethodSpec,
    RetryPolicy,
    SpecOverrides,
    apply_overrides,
    spec_problem,
)
from gworker_client._variant import parse_overrides, variant_key

WHERE = "f.with_options"


def _spec(**kw: object) -> FunctionSpec:
    base: dict[str, object] = dict(
        timeout=300.0, cpu=0.125, memory=128, min_workers=0, max_workers=100,
        buffer_workers=0, idle_timeout=60.0, image={"layers": []},
    )  # fmt: skip
    return FunctionSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_modal_spellings_map_onto_spec_fields():
    o = parse_overrides(
        {
            "timeout": 10,
            "cpu": 2,
            "memory": 512,
            "retries": 2,
            "max_containers": 3,
            "buffer_containers": 1,
            "min_containers": 1,
            "scaledown_window": 5,
            "allow_concurrent_inputs": 4,
            "gpu": "A100",
            "region": None,  # None is "not given", as in Modal
        },
        WHERE,
        "@app.function(...)",
    )
    assert o.given() == {
        "timeout": 10.0,
        "retries": RetryPolicy(max_retries=2, backoff_coefficient=1.0),
        "cpu": 2.0,
        "memory": 512,
        "cpu_limit": 2.0,
        "memory_limit": 512,
        "min_workers": 1,
        "max_workers": 3,
        "buffer_workers": 1,
        "idle_timeout": 5.0,
        "gpu": (GpuRequest(type="A100"),),
        "concurrency": Concurrency(max_inputs=4, target_inputs=4),
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timout": 5}, r"unknown keyword argument 'timout'\. Did you mean 'timeout'\?"),
        ({"timeout": 0}, r"f\.with_options\(timeout=0\): must be from 1"),
        ({"secrets": [gw.Secret.from_dict({"A": "1"})]}, r"secrets are resolved when the app"),
        ({"volumes": {"data": gw.Volume.from_name("v")}}, r"must be an absolute path"),
        ({"env": {"A": "1"}}, r"with_options\(env=\.\.\.\) is not supported"),
        ({"region": "us-east"}, r"region selection"),
        ({"max_containers": 2, "concurrency_limit": 3}, r"got 'max_workers' twice"),
    ],
)
def test_bad_options_are_refused_naming_the_fix(options, message):
    with pytest.raises(gw.exception.InvalidError, match=message):
        parse_overrides(options, WHERE, "@app.function(...)")


def test_overrides_stack_later_wins_and_key_the_variant():
    a = SpecOverrides(timeout=5.0, cpu=1.0)
    stacked = a.stacked(SpecOverrides(timeout=9.0))
    assert stacked.given() == {"timeout": 9.0, "cpu": 1.0}
    assert variant_key({}, a) == variant_key({}, SpecOverrides(cpu=1.0, timeout=5.0))
    assert variant_key({}, a) != variant_key({}, stacked)
    assert variant_key({"x": 1}, SpecOverrides()) != variant_key({"x": 1}, a)


def test_apply_keeps_the_rest_of_the_spec_and_drops_the_schedule():
    spec = _spec(secrets=(), schedule=gw.Period(hours=1).to_spec())
    variant = apply_overrides(spec, SpecOverrides(timeout=2.0, max_workers=3))
    assert (variant.timeout, variant.max_workers, variant.image) == (2.0, 3, spec.image)
    assert variant.schedule is None and spec.timeout == 300.0


def test_batching_applies_to_batched_methods_only():
    spec = _spec(
        kind="class", methods={"b": MethodSpec(batching=Batching(2, 10)), "p": MethodSpec()}
    )
    variant = apply_overrides(spec, SpecOverrides(batching=Batching(8, 50)))
    assert variant.methods["b"].batching == Batching(8, 50)
    assert variant.methods["p"].batching is None and variant.max_inputs == 8
    with pytest.raises(ValueError, match="needs a @gw.batched"):
        apply_overrides(
            _spec(kind="class", methods={"p": MethodSpec()}),
            SpecOverrides(batching=Batching(8, 50)),
        )


def test_a_variant_that_breaks_the_spec_is_named():
    variant = apply_overrides(_spec(max_workers=2), SpecOverrides(min_workers=5))
    assert spec_problem(variant) == "min_workers=5 must be from 0 to max_workers=2"
