"""Decorator options are validated at decoration, with messages that name the bad value."""

from __future__ import annotations

import pytest

import gworker_client as gw
from gworker_client._options import parse_options

app = gw.App("options")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": -1}, r"timeout=-1.*from 1"),
        ({"timeout": "soon"}, r"timeout='soon'.*expected a number"),
        ({"cpu": 0}, r"cpu=0"),
        ({"memory": -5}, r"memory=-5"),
        ({"memory": 1.5}, r"memory=1.5.*int of MiB"),
        ({"retries": -1}, r"max_retries=-1"),
        ({"retries": "3"}, r"retries='3' is not valid"),
        ({"min_workers": 3, "max_workers": 2}, r"min_workers cannot exceed max_workers"),
        ({"min_containers": 3, "max_containers": 2}, r"min_workers cannot exceed"),
        ({"timout": 5}, r"unknown keyword argument 'timout'.*Did you mean 'timeout'"),
        ({"schedule": object()}, r"schedule=.*expected gw.Cron"),
        ({"cloud": "aws"}, r"cloud=.*not supported by this version"),
        ({"gpu": "A1OO"}, r"unknown GPU type 'A1OO'; known types: .*A100.*Did you mean"),
        ({"gpu": "H100:0"}, r"GPU count 0 must be from 1"),
        ({"gpu": "H100:-1"}, r"GPU count -1 must be from 1"),
        ({"gpu": "H100:x"}, r"GPU count in 'H100:x' must be an int"),
        ({"allow_concurrent_inputs": 0}, r"allow_concurrent_inputs=0"),
        ({"max_workers": 1, "concurrency_limit": 2}, r"'max_workers' twice"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(gw.exception.InvalidError, match=message):
        parse_options(kwargs)


def test_modal_spellings_map_to_canonical_names():
    o = parse_options(
        {"min_containers": 1, "max_containers": 4, "buffer_containers": 2, "scaledown_window": 30}
    )
    assert (o.min_workers, o.max_workers, o.buffer_workers, o.idle_timeout) == (1, 4, 2, 30)
    o = parse_options({"keep_warm": 2, "concurrency_limit": 3, "container_idle_timeout": 9})
    assert (o.min_workers, o.max_workers, o.idle_timeout) == (2, 3, 9)


def test_retries_int_and_object():
    assert parse_options({"retries": 3}).retries == gw.Retries(3, 1.0, 1.0)
    r = gw.Retries(max_retries=2, backoff_coefficient=2.0, initial_delay=1.0)
    assert [r.delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    with pytest.raises(gw.exception.InvalidError, match="backoff_coefficient"):
        gw.Retries(max_retries=1, backoff_coefficient=0.5)


def test_decorator_without_parentheses_suggests_the_fix():
    with pytest.raises(gw.exception.InvalidError, match=r"@app.function\(\)"):

        @app.function
        def f():
            pass


def test_nested_function_is_rejected():
    def outer():
        @app.function()
        def inner():
            pass

    with pytest.raises(gw.exception.InvalidError, match="defined inside another function"):
        outer()


def test_not_yet_supported_app_options_are_refused():
    with pytest.raises(gw.exception.InvalidError, match="not supported"):
        gw.App("x", volumes={"/data": object()})
