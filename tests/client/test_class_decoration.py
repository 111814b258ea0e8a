"""Class, method, batching, concurrency, probe and parameter mistakes fail at decoration."""

from __future__ import annotations

import pytest

import gworker_client as gw

app = gw.App("decoration")
Invalid = gw.exception.InvalidError


def test_method_on_a_plain_function():
    with pytest.raises(Invalid, match=r"@gw.method\(\) marks methods of an @app.cls"):

        @app.function()
        @gw.method()
        def f():
            pass


def test_cls_on_a_function_and_function_on_a_class():
    with pytest.raises(Invalid, match="decorates a class"):
        app.cls()(lambda: None)
    with pytest.raises(Invalid, match=r"use @app.cls\(\)"):

        @app.function()
        class C:
            pass


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_batch_size": 0, "wait_ms": 1}, "max_batch_size=0"),
        ({"max_batch_size": 2, "wait_ms": -1}, "wait_ms=-1"),
    ],
)
def test_bad_batched(kwargs, message):
    with pytest.raises(Invalid, match=message):
        gw.batched(**kwargs)


def test_batched_method_without_an_argument():
    with pytest.raises(Invalid, match="takes no argument to batch"):

        @gw.batched(max_batch_size=2, wait_ms=1)
        def f(self):
            return []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_inputs": 0}, "max_inputs=0"),
        ({"max_inputs": 2, "target_inputs": 3}, "target_inputs=3"),
    ],
)
def test_bad_concurrent(kwargs, message):
    with pytest.raises(Invalid, match=message):
        gw.concurrent(**kwargs)


def test_probe_naming_a_missing_method_or_unknown_kind():
    with pytest.raises(Invalid, match="kind 'sometimes'"):
        gw.Probe.on("health", kind="sometimes")
    with pytest.raises(Invalid, match="has no @gw.method.. named 'health'"):

        @app.cls(probes=[gw.Probe.on("health")])
        class NoHealth:
            @gw.method()
            def predict(self):
                return 1


def test_parameter_without_annotation_or_with_unsupported_type():
    with pytest.raises(Invalid, match="needs a type annotation"):

        @app.cls()
        class A:
            x = gw.parameter()

            @gw.method()
            def m(self):
                pass

    with pytest.raises(Invalid, match="parameter type .*list.* is not supported"):

        @app.cls()
        class B:
            x: list = gw.parameter()

            @gw.method()
            def m(self):
                pass


def test_class_without_methods():
    with pytest.raises(Invalid, match="has no @gw.method"):

        @app.cls()
        class Empty:
            pass


def test_cls_without_parentheses():
    with pytest.raises(Invalid, match=r"@app.cls\(\)"):

        @app.cls
        class C:
            pass


def test_gpu_objects_and_strings():
    assert gw.Gpu("a100", count=2).to_dict() == {"type": "A100", "count": 2}
    with pytest.raises(Invalid, match="unknown GPU type"):
        gw.Gpu("RTX9000")
