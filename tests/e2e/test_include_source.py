"""``include_source=`` on App and functions: whether containers get the entry module from the
code bundle (the default) or from their image."""

from __future__ import annotations

import pytest
import source_app

import gworker_client as gw


def test_include_source_false_imports_from_the_image(server):
    with source_app.app.run():
        assert source_app.from_image.remote() == "/root/source_app.py"
        # the function's own setting wins: the bundle's copy, placed where Modal places it
        assert source_app.from_bundle.remote() == "/root/source_app.py"


def test_a_module_the_image_lacks_is_named_with_the_fix(server):
    with source_app.bare.run(), pytest.raises(gw.exception.ExecutionError) as e:
        source_app.missing.remote()
    assert "include_source=False: module 'source_app' is not in this function's image" in str(
        e.value
    )
    assert "add_local_python_source('source_app')" in str(e.value)


def test_bad_values_are_refused():
    with pytest.raises(gw.exception.InvalidError, match=r"App\(include_source='no'\)"):
        gw.App("x", include_source="no")  # type: ignore[arg-type]
    with pytest.raises(gw.exception.InvalidError, match="expected True"):
        gw.App("x").function(include_source=1)(lambda: None)
    f = source_app.from_image
    with pytest.raises(gw.exception.InvalidError, match="code is shipped when the app"):
        f.with_options(include_source=True)
