"""Patterns from Modal's public examples, trimmed: each failed here before it was fixed."""

from __future__ import annotations

import subprocess
import sys
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
