"""Code bundles: deterministic, and laid out the way the module is imported."""

from __future__ import annotations

import importlib
import sys
import zipfile
from io import BytesIO

from gworker_client._code import bundle


def test_package_module_bundle_matches_import_names(tmp_path, monkeypatch):
    pkg = tmp_path / "proj" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("VALUE = 1\n")
    (pkg / "main.py").write_text("from . import helpers\n")
    monkeypatch.syspath_prepend(str(tmp_path / "proj"))
    module = importlib.import_module("pkg.main")
    try:
        first = bundle(module, "pkg.main")
        second = bundle(module, "pkg.main")
    finally:
        for name in ("pkg", "pkg.main", "pkg.helpers"):
            sys.modules.pop(name, None)
    assert first.digest == second.digest
    names = set(zipfile.ZipFile(BytesIO(first.data)).namelist())
    assert names == {"pkg/__init__.py", "pkg/helpers.py", "pkg/main.py"}
