"""The `import modal` hook: gworker stands in only when the modal package is absent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _python(code: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(SRC), *map(str, paths)])
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_modal_resolves_to_gworker_when_not_installed():
    r = _python(
        "from gworker_client._modal_import import install; install()\n"
        "import modal, modal.functions, modal.exception, gworker_client as gw\n"
        "from modal.functions import FunctionCall\n"
        "from modal.queue import Queue\n"
        "import modal\n"
        "assert modal.App is gw.App and FunctionCall is gw.FunctionCall and Queue is gw.Queue\n"
        "assert modal.exception is gw.exception\n"
        "assert modal.functions.gather is gw.FunctionCall.gather\n"
        "print('ok')\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"
    assert r.stderr.count("import modal: resolved to gworker") == 1


def test_missing_names_and_submodules_say_what_is_refused():
    r = _python(
        "from gworker_client._modal_import import install; install(announce=False)\n"
        "import modal\n"
        "for stmt in ('import modal.nothing', 'modal.NoSuchThing'):\n"
        "    try:\n"
        "        exec(stmt)\n"
        "    except (ImportError, AttributeError) as e:\n"
        "        print(type(e).__name__, e)\n"
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ImportError No module named 'modal.nothing'")
    assert "modal.functions" in lines[0] and "modal.sandbox" in lines[0]
    assert lines[1].startswith("AttributeError modal.NoSuchThing is not provided by gworker")
    assert r.stderr == ""


def test_an_installed_modal_is_used(tmp_path):
    (tmp_path / "modal").mkdir()
    (tmp_path / "modal" / "__init__.py").write_text("REAL = True\n")
    (tmp_path / "modal" / "functions.py").write_text("REAL_FUNCTIONS = True\n")
    r = _python(
        "from gworker_client._modal_import import install; install()\n"
        "import modal, modal.functions\n"
        "print(modal.REAL, modal.functions.REAL_FUNCTIONS)\n",
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "True True\n"
    assert "import modal: using the installed modal package" in r.stderr
