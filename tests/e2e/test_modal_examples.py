"""Patterns from Modal's public examples, trimmed: each failed here before it was fixed."""

from __future__ import annotations

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
    result = _with_modal_hook("import modal.experimental")
    assert result.returncode != 0
    assert "No module named 'modal.experimental'" in result.stderr
    assert "@app.server(port=...)" in result.stderr


def test_submodules_are_attributes_of_a_bare_import_modal():
    result = _with_modal_hook(
        "import modal\nprint(modal.container_process.ContainerProcess.__name__,"
        " modal.exception.NotFoundError.__name__)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ContainerProcess", "NotFoundError"]


def test_get_call_graph_is_refused_naming_how_to_poll():
    with pytest.raises(gw.exception.InvalidError, match=r"call\.get\(timeout=0\)"):
        gw.FunctionCall.from_id("fc-0").get_call_graph()


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
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(*([] if follow else [NoRedirect()]))
    try:
        with opener.open(url, timeout=120) as resp:
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
