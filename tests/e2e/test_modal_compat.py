"""An unmodified Modal app (`import modal`) under `gw run`, and `gw run`'s Modal-style flags."""

from __future__ import annotations

from pathlib import Path

APPS = Path(__file__).parent.parent / "apps"


def test_unmodified_modal_app_runs(server):
    result = server.gw("run", str(APPS / "modal_unmodified.py"), "--name", "Grace")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "the square is 1764" in out
    assert "gathered [0, 1, 4]" in out
    assert "words ['\"to\"', '\"be\"', '\"or\"']" in out
    assert "greet hi Grace!" in out
    assert "queue found" in out
    assert "not found, as expected" in out
    # said once, on stderr: which `modal` was used
    assert result.stderr.count("import modal: resolved to gworker") == 1


def test_async_local_entrypoint_is_awaited(server):
    result = server.gw("run", str(APPS / "async_gen_app.py"), "--n", "4")
    assert result.returncode == 0, result.stderr
    assert "doubled 8 items [0, 1, 2, 3]" in result.stdout


def test_run_quiet_shows_only_the_apps_own_output(server):
    result = server.gw("run", "--quiet", str(APPS / "modal_unmodified.py"))
    assert result.returncode == 0, result.stderr
    assert "the square is 1764" in result.stdout
    assert "running on a remote worker" not in result.stdout + result.stderr
    assert "import modal" not in result.stderr
    assert "app modal-unmodified running" not in result.stderr


def test_run_module_by_import_path(server):
    result = server.gw("run", "-m", "async_gen_app::main", cwd=APPS)
    assert result.returncode == 0, result.stderr
    assert "doubled 6 items [0, 1, 2]" in result.stdout


def test_run_file_and_module_together_are_refused(server):
    result = server.gw("run", "-m", "async_gen_app", str(APPS / "async_gen_app.py"))
    assert result.returncode != 0
    assert "either FILE or -m MODULE" in result.stderr


def test_run_a_generator_function_prints_its_items(server):
    result = server.gw("run", f"{APPS / 'async_gen_app.py'}::count_up", "--n", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "1", "2"]


def test_deploy_an_unmodified_modal_app(server):
    import gworker_client as gw

    result = server.gw("deploy", str(APPS / "modal_unmodified.py"))
    assert result.returncode == 0, result.stderr
    assert "import modal: resolved to gworker" in result.stderr
    try:
        assert gw.Function.from_name("modal-unmodified", "square").remote(5) == 25
        stream = gw.Function.from_name("modal-unmodified", "words").remote_gen("a b")
        assert list(stream) == ['"a"', '"b"']
    finally:
        assert server.gw("app", "stop", "modal-unmodified").returncode == 0
