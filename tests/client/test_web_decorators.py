"""Web decorators: validated at decoration, recorded in the function spec's ``web`` entry."""

from __future__ import annotations

import pytest

import gworker_client as gw
from gworker.server.web_table import label_for
from gworker_client._protocol import WebEndpoint
from gworker_client.exception import InvalidError

app = gw.App("web-unit")


@app.function()
@gw.fastapi_endpoint(method="post", label="my-api", requires_proxy_auth=True)
def endpoint(x: int) -> int:
    return x


@app.function()
@gw.web_server(8000, startup_timeout=12)
def server() -> None:
    pass


@app.cls()
class Served:
    @gw.enter()
    def load(self) -> None:
        self.ready = True

    @gw.asgi_app(custom_domains=["api.example.com"])
    def web(self) -> object:
        return None


def test_spec_records_the_web_entry() -> None:
    [web] = endpoint._spec().web
    assert web.kind == "fastapi_endpoint"
    assert (web.method, web.label, web.requires_proxy_auth) == ("POST", "my-api", True)
    [srv] = server._spec().web
    assert (srv.kind, srv.port, srv.startup_timeout) == ("web_server", 8000, 12.0)
    [cls_web] = Served._service._spec().web
    assert (cls_web.name, cls_web.custom_domains) == ("web", ("api.example.com",))
    assert Served._service._spec().methods == {}  # a web method is not a .remote() target


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: gw.fastapi_endpoint(method="FETCH"), "method='FETCH'"),
        (lambda: gw.fastapi_endpoint(label="Not_A_Label"), "label='Not_A_Label'"),
        (lambda: gw.asgi_app(label="-x"), "label='-x'"),
        (lambda: gw.asgi_app(custom_domains="api.example.com"), "expected a list"),
        (lambda: gw.wsgi_app(custom_domains=["http://x.com"]), "no scheme"),
        (lambda: gw.web_server(0), "port=0"),
        (lambda: gw.web_server(70000), "port=70000"),
        (lambda: gw.web_server("80"), "port='80'"),  # type: ignore[arg-type]
        (lambda: gw.web_server(80, startup_timeout=0), "startup_timeout=0"),
        (lambda: gw.fastapi_endpoint(docs="yes"), "docs='yes'"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_fail_at_decoration(make, message) -> None:
    with pytest.raises(InvalidError, match=message.replace("(", r"\(").replace("[", r"\[")):
        make()


def test_missing_parentheses_and_wrong_order() -> None:
    def f() -> None:
        pass

    with pytest.raises(InvalidError, match="forget the parentheses"):
        gw.fastapi_endpoint(f)  # type: ignore[arg-type]
    with pytest.raises(InvalidError, match="forget the parentheses"):
        gw.asgi_app(f)
    with pytest.raises(InvalidError, match="under @app.function"):
        gw.fastapi_endpoint()(endpoint)
    with pytest.raises(InvalidError, match="two web decorators"):
        gw.asgi_app()(gw.fastapi_endpoint()(f))


def test_web_endpoints_on_a_class_with_parameters_are_refused() -> None:
    with pytest.raises(InvalidError, match="web endpoints and parameters"):

        @app.cls()
        class WithParams:
            size: int = gw.parameter(default=1)

            @gw.fastapi_endpoint()
            def web(self) -> int:
                return self.size


def test_labels() -> None:
    deployed = {"name": "My App", "mode": "deployed", "environment": "main"}
    ephemeral = {**deployed, "mode": "ephemeral"}
    staging = {**deployed, "environment": "staging"}
    asgi = WebEndpoint(kind="asgi_app")
    labelled = WebEndpoint(kind="asgi_app", label="api")
    assert label_for(deployed, "hello_world", asgi) == "my-app-hello-world"
    assert (
        label_for(deployed, "Model", WebEndpoint(kind="asgi_app", name="web")) == "my-app-model-web"
    )
    assert label_for(ephemeral, "f", labelled) == "api-dev"
    assert label_for(staging, "f", labelled) == "staging--api"
    long = label_for(deployed, "f" * 80, asgi)
    assert len(long) == 63 and long.startswith("my-app-fff")
