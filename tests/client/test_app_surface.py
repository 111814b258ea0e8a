"""App.include, App.image, is_local, interact and lookups by name."""

from __future__ import annotations

import uuid

import include_lib
import include_main
import pytest

import gworker_client as gw


def test_included_functions_run_in_the_including_app(server):
    with include_main.app.run():
        assert include_lib.triple.remote(2) == 6
        assert include_main.plus_triple.remote(2) == 8
        assert include_lib.where.remote() is False
        assert "in this container" in include_lib.try_interact.remote()
    assert gw.is_local() is True


def test_include_refuses_a_name_clash():
    other = gw.App("other")
    assert include_lib.triple._raw_f is not None
    other.function(name="plus_triple")(include_lib.triple._raw_f)

    with pytest.raises(gw.exception.InvalidError, match="'plus_triple' already names something"):
        include_main.app.include(other)


def test_interact_is_refused_on_the_callers_machine():
    with pytest.raises(gw.exception.InvalidError, match="attaches no terminal"):
        gw.interact()


def test_app_image_and_its_imports():
    app = gw.App("img")
    assert app.image.python_version == gw.Image.debian_slim().python_version
    with app.image.imports():
        import a_package_that_is_not_installed  # noqa: F401
    with pytest.raises(ZeroDivisionError), app.image.imports():
        1 / 0  # noqa: B018 - only ImportError is ignored


def test_function_from_name_hydrates(server):
    name = f"hydrate-{uuid.uuid4().hex[:8]}"
    include_lib.lib.deploy(name=name)
    try:
        fn = gw.Function.from_name(name, "triple").hydrate()
        assert fn.object_id.startswith("fu-")
        assert fn.remote(3) == 9
        with pytest.raises(gw.exception.NotFoundError):
            gw.Function.from_name(name, "nope").hydrate()
    finally:
        include_lib.lib._unhydrate()
        include_lib.lib.name = "include-lib"
        assert server.gw("app", "stop", name).returncode == 0
