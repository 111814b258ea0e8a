"""The Modal reference's class examples run with `import gworker_client as modal`."""

from __future__ import annotations

import modal_classes
import pytest

import gworker_client as modal


@pytest.fixture(scope="module")
def running(gpu_server):
    with modal_classes.app.run():
        yield


def test_model_server(running):
    assert modal_classes.ModelServer().generate.remote("abc") == "cba"


def test_batch_processor_with_concurrency_on_the_method(running):
    assert list(modal_classes.BatchProcessor().process.map(range(100))) == [
        2 * x for x in range(100)
    ]


def test_web_endpoints_are_refused_clearly_until_supported():
    for decorator in (modal.asgi_app, modal.wsgi_app, modal.fastapi_endpoint):
        with pytest.raises(modal.exception.InvalidError, match="web endpoints are not supported"):
            decorator()(lambda: None)
    with pytest.raises(modal.exception.InvalidError, match="web endpoints are not supported"):
        modal.web_server(port=8000)(lambda: None)
