"""Patterns from Modal's public examples, trimmed: each failed here before it was fixed."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import gworker_client as gw

APPS = Path(__file__).parent.parent / "apps"


def test_optional_entrypoint_parameters_and_queue_empty(server):
    # `str | None` / `int | None` parameters become options left out by default, as with
    # `modal run`; a container's loop ends on the `queue.Empty` its timed-out get raises
    result = server.gw("run", str(APPS / "modal_examples_app.py"), "--count", "4")
    assert result.returncode == 0, result.stderr
    assert "drained [0, 1, 2, 3]" in result.stdout
    assert "label None" in result.stdout
    result = server.gw("run", str(APPS / "modal_examples_app.py"), "--label", "hi")
    assert result.returncode == 0, result.stderr
    assert "label hi" in result.stdout
    assert "drained [0, 1, 2]" in result.stdout


def test_unsupported_parameter_type_names_what_is_taken(server, tmp_path):
    app = tmp_path / "listy.py"
    app.write_text(
        "import modal\napp = modal.App('listy')\n\n"
        "@app.local_entrypoint()\ndef main(xs: list[int] | None = None):\n    print(xs)\n"
    )
    result = server.gw("run", str(app))
    assert result.returncode != 0
    assert "takes str, int, float and bool parameters (or one of them `| None`)" in result.stderr


def _with_modal_hook(code: str) -> subprocess.CompletedProcess[str]:
    prelude = "from gworker_client._modal_import import install; install(announce=False)\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60
    )


def test_modal_experimental_names_what_to_use_instead():
    result = _with_modal_hook("import modal.experimental\nmodal.experimental.clustered")
    assert result.returncode != 0
    assert "modal.experimental.clustered is not provided" in result.stderr
    assert "only modal.experimental.http_server is provided" in result.stderr


def test_experimental_http_server_is_a_server_class(server):
    # the code sits in /root, the working directory, so `python -m http.server` serves it
    result = server.gw("run", str(APPS / "modal_examples_http_server_app.py"), timeout=600)
    assert result.returncode == 0, result.stderr
    assert "served itself: True" in result.stdout


def test_experimental_http_server_decorates_classes_only():
    from gworker_client import _experimental

    with pytest.raises(gw.exception.InvalidError, match="decorates a class"):
        _experimental.http_server(8000)(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(gw.exception.InvalidError, match="proxy_regions='us-east'"):
        _experimental.http_server(8000, proxy_regions="us-east")


def test_submodules_are_attributes_of_a_bare_import_modal():
    result = _with_modal_hook(
        "import modal\nprint(modal.container_process.ContainerProcess.__name__,"
        " modal.exception.NotFoundError.__name__)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ContainerProcess", "NotFoundError"]


def test_call_graph_links_the_calls_a_function_makes(server):
    # each call a container makes hangs under the input it ran: spawned ones, an awaited
    # `.remote()` (kept only in memory) and one that failed, each with its container and status
    import modal_examples_graph_app as graph_app

    with graph_app.app.run():
        fc = graph_app.fan_out.spawn(2)
        result = fc.get()
        roots = fc.get_call_graph()
    assert result["total"] == 2 * (0 + 1) + 2 * 2
    assert len(roots) == 1
    root = roots[0]
    assert (root.input_id, root.function_call_id) == (result["input_id"], fc.object_id)
    assert root.function_name == "fan_out"
    assert root.module_name == "modal_examples_graph_app"
    assert root.status is gw.call_graph.InputStatus.SUCCESS
    assert root.task_id.startswith("ct-")
    children = root.children
    assert [c.function_name for c in children] == ["leaf"] * 4
    assert [c.status.name for c in children] == ["SUCCESS"] * 3 + ["FAILURE"]
    assert all(c.task_id.startswith("ct-") and not c.children for c in children)
    # asked of a child, the graph is the same tree from its root
    leaf_call = gw.FunctionCall.from_id(children[0].function_call_id)
    assert leaf_call.get_call_graph()[0].input_id == root.input_id


def test_call_graph_under_an_awaited_call(server):
    # `.remote()` keeps its call in memory only; the graph still shows the input that made
    # the calls, with its container and status, once the server has answered it
    import modal_examples_graph_app as graph_app

    with graph_app.app.run():
        result = graph_app.fan_out.remote(1)
        [root] = gw.FunctionCall.from_id(result["child"]).get_call_graph()
    assert (root.input_id, root.function_name) == (result["input_id"], "fan_out")
    assert root.status.name == "SUCCESS" and root.task_id.startswith("ct-")
    assert result["child"] in {c.function_call_id for c in root.children}


def test_call_graph_of_a_call_made_by_a_web_request(server):
    # the web job queue example: a request spawns a method and polls its status in the graph,
    # where the request is the root and the spawned input its child
    result = server.gw("deploy", str(APPS / "modal_examples_graph_app.py"), timeout=600)
    assert result.returncode == 0, result.stderr
    base = f"{server.url}/web/graph"
    status, _, body = _request(f"{base}/run/hello", method="POST")
    assert status == 200, body
    submitted = json.loads(body)
    request_id = submitted["request_id"]
    assert submitted["input_id"].startswith("in-fc-")
    assert _get(f"{base}/result/{request_id}") == (200, "", '{"response":"olleh"}')
    status, _, body = _get(f"{base}/status/{request_id}")
    assert (status, json.loads(body)) == (200, {"status": "SUCCESS", "function": "Backend"})
    # a caller outside any container sees the same tree
    roots = gw.FunctionCall.from_id(request_id).get_call_graph()
    assert roots[0].input_id == submitted["input_id"]
    assert roots[0].function_name == "web"
    assert roots[0].children[0].function_call_id == request_id


def test_call_graph_of_a_call_made_here_is_the_call_alone(server):
    import modal_examples_graph_app as graph_app

    with graph_app.app.run():
        fc = graph_app.leaf.spawn(3)
        assert fc.get() == 6
        [only] = fc.get_call_graph()
    assert (only.function_call_id, only.children, only.status.name) == (fc.object_id, [], "SUCCESS")
    with pytest.raises(gw.exception.NotFoundError):
        gw.FunctionCall.from_id("fc-0").get_call_graph()


def test_a_parent_input_is_named_by_containers_only(server):
    import modal_examples_graph_app as graph_app

    from gworker_client import _api

    parent = {"call_id": "fc-y", "input_id": 1}
    with graph_app.app.run():
        fid = graph_app.leaf.object_id
        with pytest.raises(gw.exception.InvalidError, match="only a container names the input"):
            body = {"call_id": "fc-x1", "inputs": [], "parent": parent}
            _api.client().post(f"/v1/functions/{fid}/calls", body)


def test_code_sits_in_root_the_working_directory(server):
    # the Streamlit example checks `Path(__file__).parent / "app.py"` on import, in containers too
    result = server.gw("run", str(APPS / "modal_examples_root_app.py"), timeout=600)
    assert result.returncode == 0, result.stderr
    where = "['/root/modal_examples_root_app.py', '/root', 'hello from a local dir',"
    assert where in result.stdout
    assert "'True', 'ct-1']" in result.stdout  # MODAL_TASK_ID, MODAL_IS_REMOTE


@pytest.mark.parametrize("cls", [gw.Dict, gw.Queue, gw.Volume])
def test_objects_namespace_creates_lists_and_deletes(server, cls):
    name = f"objects-{cls.__name__.lower()}-{uuid.uuid4().hex[:8]}"
    cls.objects.create(name)
    with pytest.raises(gw.exception.AlreadyExistsError):
        cls.objects.create(name)
    cls.objects.create(name, allow_existing=True)  # as an example's idempotent setup does
    listed = {o.name: o for o in cls.objects.list()}
    assert isinstance(listed[name], cls)
    assert listed[name].object_id == cls.from_name(name).object_id
    assert len(cls.objects.list(max_objects=1)) == 1
    cls.objects.delete(name)
    with pytest.raises(gw.exception.NotFoundError):
        cls.objects.delete(name)
    cls.objects.delete(name, allow_missing=True)
    assert name not in {o.name for o in cls.objects.list()}


def test_secret_objects_namespace(server):
    name = f"objects-secret-{uuid.uuid4().hex[:8]}"
    gw.Secret.objects.create(name, {"API_KEY": "hunter2"})
    # an existing secret is left as it is
    gw.Secret.objects.create(name, {"API_KEY": "other"}, allow_existing=True)
    assert name in {s.name for s in gw.Secret.objects.list()}
    gw.Secret.objects.delete(name)
    gw.Secret.objects.delete(name, allow_missing=True)
    assert name not in {s.name for s in gw.Secret.objects.list()}


def test_objects_namespace_refuses_bad_arguments(server):
    with pytest.raises(gw.exception.InvalidError, match="max_objects=-1"):
        gw.Dict.objects.list(max_objects=-1)
    with pytest.raises(gw.exception.InvalidError, match="only for volumes"):
        gw.Dict.objects.create("x", version=2)
    with pytest.raises(gw.exception.InvalidError, match="version=3"):
        gw.Volume.objects.create("x", version=3)


def test_image_build_on_a_looked_up_app_then_a_sandbox_uses_it(server):
    # sandbox examples build their image first: `image = modal.Image.debian_slim().build(app)`
    app = gw.App.lookup("modal-examples-image-build", create_if_missing=True)
    image = gw.Image.debian_slim().env({"BUILT_BY": "image-build"})
    assert image.build(app) is image
    sb = gw.Sandbox.create("sh", "-c", "echo $BUILT_BY", app=app, image=image)
    try:
        assert sb.stdout.read().strip() == "image-build"
    finally:
        sb.terminate()
    with pytest.raises(gw.exception.InvalidError, match="is running"):
        gw.Image.debian_slim().build(gw.App("never-run"))


def test_sidecars_are_refused_naming_what_works_and_terminate_waits(server):
    app = gw.App.lookup("modal-examples-sidecars", create_if_missing=True)
    sb = gw.Sandbox.create("sleep", "300", app=app)
    with pytest.raises(gw.exception.InvalidError, match=r"sb.exec\('redis-server'"):
        sb._experimental_sidecars.create("redis-server", name="redis")
    sb.terminate(wait=True)  # as sidecar_redis.py ends: returns once it has ended
    assert sb.poll() is not None


def test_outbound_policy_is_refused_naming_what_works():
    result = _with_modal_hook("import modal\nmodal.OutboundPolicy()")
    assert result.returncode != 0
    assert "modal.OutboundPolicy is not provided: injecting secrets" in result.stderr
    with pytest.raises(AttributeError, match="TLS-intercepting egress proxy"):
        _ = gw.OutboundPolicy
    with pytest.raises(gw.exception.InvalidError, match="outbound_policy=.*TLS-intercepting"):
        gw.Sandbox.create("true", app=gw.App("x"), outbound_policy=object())


def test_lookup_is_the_older_spelling_of_from_name(server):
    result = server.gw("deploy", str(APPS / "modal_examples_app.py"))
    assert result.returncode == 0, result.stderr
    drain = gw.Function.lookup("modal-examples-patterns", "drain")
    assert drain.object_id.startswith("fu-")  # hydrated at once
    with gw.Queue.ephemeral() as q:
        q.put(7)
        assert drain.remote(q) == [7]
    greeter = gw.Cls.lookup("modal-examples-patterns", "Greeter")
    assert greeter().hello.remote("Ada") == "hello Ada"
    with pytest.raises(gw.exception.NotFoundError):
        gw.Function.lookup("modal-examples-patterns", "nope")


def test_names_modal_removed_say_what_replaced_them():
    result = _with_modal_hook(
        "import modal\n"
        "for name in ('Stub', 'Mount'):\n"
        "    try:\n"
        "        getattr(modal, name)\n"
        "    except AttributeError as e:\n"
        "        print(e)\n"
        "try:\n"
        "    modal.App('old').function(mounts=[])(lambda: 1)\n"
        "except modal.exception.InvalidError as e:\n"
        "    print(e)\n"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "modal.App" in lines[0]
    assert "Image.add_local_dir()" in lines[1]
    assert lines[2].startswith("@app.function(mounts=...) was removed in Modal 1.0")


def test_submodules_are_attributes_of_gworker_client_too():
    # an app that changed only its import line (`import gworker_client as modal`) uses them too
    assert gw.container_process.ContainerProcess is gw.ContainerProcess
    assert gw.functions.FunctionCall is gw.FunctionCall
    assert gw.queue.Queue is gw.Queue
    with pytest.raises(AttributeError, match="not_a_module"):
        _ = gw.not_a_module


def test_local_files_next_to_the_app_are_not_looked_for_in_containers(server):
    result = server.gw("run", str(APPS / "modal_examples_files_app.py"))
    assert result.returncode == 0, result.stderr
    assert "assets ['hello from a local dir', 'hello from a local dir']" in result.stdout


def _get(url: str, follow: bool = True) -> tuple[int, str, str]:
    """(status, Location, body) of a GET; with ``follow=False`` a redirect is not followed."""
    return _request(url, follow=follow)


def _request(url: str, method: str = "GET", follow: bool = True) -> tuple[int, str, str]:
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(*([] if follow else [NoRedirect()]))
    try:
        with opener.open(urllib.request.Request(url, method=method), timeout=120) as resp:
            return resp.status, resp.headers.get("Location", ""), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location", ""), e.read().decode()


def test_redirects_to_the_apps_own_paths_stay_under_its_prefix(server):
    result = server.gw("deploy", str(APPS / "modal_examples_web_app.py"))
    assert result.returncode == 0, result.stderr
    base = f"{server.url}/web/redirecting"
    # an absolute URL on this host, and an absolute path: both placed under the prefix
    status, location, _ = _get(f"{base}/submit?n=7", follow=False)
    assert status == 307
    assert location == f"{base}/result?n=7"
    assert _get(f"{base}/submit?n=7") == (200, "", '{"square":49}')
    status, location, _ = _get(f"{base}/relative", follow=False)
    assert location == "/web/redirecting/result?n=1"
    # another host's URL is the app's business
    status, location, _ = _get(f"{base}/away", follow=False)
    assert location == "http://example.invalid/elsewhere"


def test_with_options_volumes_mounts_them_in_the_variant(server):
    # a pipeline's last stage: `worker.with_options(max_containers=4, volumes={...})`
    result = server.gw("deploy", str(APPS / "modal_examples_app.py"))
    assert result.returncode == 0, result.stderr
    vol = gw.Volume.from_name(f"notes-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    write_note = gw.Function.from_name("modal-examples-patterns", "write_note")
    stage = write_note.with_options(max_containers=2, volumes={"/data": vol})
    assert stage.remote(vol, "from the variant") == ["note.txt"]
    assert b"".join(vol.read_file("note.txt")) == b"from the variant"
    # the function itself still mounts nothing
    with pytest.raises(FileNotFoundError):
        write_note.remote(vol, "no volume here")


def test_run_picks_an_app_by_its_variable(server):
    ref = str(APPS / "modal_examples_two_apps.py")
    result = server.gw("run", f"{ref}::app.first")
    assert result.returncode == 0, result.stderr
    assert "from the first app" in result.stdout
    result = server.gw("run", f"{ref}::web_app")
    assert result.returncode == 0, result.stderr
    assert "entrypoint says from the second app" in result.stdout
    result = server.gw("run", ref)
    assert result.returncode != 0
    assert "defines 2 Apps (app, web_app): pick one with" in result.stderr


def test_mount_paths_may_be_pathlib_paths():
    # `DATA_DIR = Path("/data")`, then `volumes={DATA_DIR: vol}`, as Modal's examples write it
    from gworker_client._options import check_volumes

    vol = gw.Volume.from_name("never-created")
    assert check_volumes({Path("/data"): vol}, "@app.function") == (("/data", vol),)
    with pytest.raises(gw.exception.InvalidError, match="absolute path"):
        gw.App("paths").function(volumes={Path("data"): vol})
