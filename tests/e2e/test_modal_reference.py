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


def endpoint(text: str) -> dict:
    return {"processed": text.upper()}


def factory() -> None:
    return None


def test_web_endpoint_spellings_of_the_reference_decorate():
    """The reference's web snippets decorate as written (tests/e2e/test_web.py serves them)."""
    app = modal.App("reference-web")
    decorated = {
        "fastapi_endpoint": app.function(name="simple")(modal.fastapi_endpoint()(endpoint)),
        "asgi_app": app.function(name="api")(
            modal.asgi_app(custom_domains=["api.example.com"])(factory)
        ),
        "wsgi_app": app.function(name="flask")(modal.wsgi_app()(factory)),
        "web_server": app.function(name="custom")(modal.web_server(port=8000)(factory)),
    }
    for kind, fn in decorated.items():
        assert [w.kind for w in fn._spec().web] == [kind]
