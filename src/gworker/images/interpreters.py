"""Finding a Python interpreter of a requested version on this machine.

uv cannot download interpreters on a closed network, and its own discovery trips over pyenv's
shims, so the search is ours: this server's own interpreter, pyenv's versions, uv's managed
Pythons, then ``python3.X`` on PATH (shim directories skipped). Names give the candidates' versions;
only the chosen one is run, once, to confirm its exact version and installation prefix.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import InterpreterNotFound

_PROBE = "import platform, sys; print(platform.python_version()); print(sys.base_prefix)"
_SYSTEM_BIN = ("/usr/local/bin", "/usr/bin")


@dataclass(frozen=True)
class Interpreter:
    executable: Path  # the base interpreter, symlinks resolved
    version: str  # exact: "3.11.7"
    prefix: Path  # its installation (sys.base_prefix), exposed read-only to containers


@dataclass(frozen=True)
class _Candidate:
    version: str  # from the name: "3.11.7", or just "3.11" for python3.11 on PATH
    executable: Path
    origin: str


_FOUND: dict[str, Interpreter] = {}


def find(requested: str) -> Interpreter:
    """The best interpreter matching ``requested`` ("3.11" or "3.11.7"); raises
    InterpreterNotFound listing the versions that do exist. A found one is remembered while its
    executable exists; a miss is not, so installing the version fixes the next build."""
    known = _FOUND.get(requested)
    if known is not None and known.executable.exists():
        return known
    _FOUND[requested] = _search(requested)
    return _FOUND[requested]


def _search(requested: str) -> Interpreter:
    matches = [c for c in candidates() if _matches(c.version, requested)]
    matches.sort(key=_preference, reverse=True)
    for cand in matches:
        interp = probe(str(cand.executable))
        if interp is not None and _matches(interp.version, requested):
            return interp
    raise InterpreterNotFound(_not_found_message(requested))


def candidates() -> list[_Candidate]:
    found: dict[Path, _Candidate] = {}
    for cand in [_own(), *_pyenv(), *_uv_managed(), *_on_path()]:
        real = cand.executable.resolve()
        if real.is_file() and os.access(real, os.X_OK) and not _is_venv(real):
            found.setdefault(real, _Candidate(cand.version, real, cand.origin))
    return list(found.values())


@functools.lru_cache(maxsize=64)
def probe(executable: str) -> Interpreter | None:
    try:
        out = subprocess.run(
            [executable, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.split("\n")
    if out.returncode != 0 or len(lines) < 2:
        return None
    return Interpreter(Path(executable).resolve(), lines[0].strip(), Path(lines[1].strip()))


def _matches(version: str, requested: str) -> bool:
    have, want = version.split("."), requested.split(".")
    return have[: len(want)] == want or (len(have) < len(want) and want[: len(have)] == have)


def _preference(c: _Candidate) -> tuple[int, tuple[int, ...]]:
    own = c.origin == "this server"
    return (1 if own else 0, tuple(int(p) for p in c.version.split(".")))


def _own() -> _Candidate:
    base = getattr(sys, "_base_executable", None) or sys.executable
    return _Candidate(platform.python_version(), Path(base), "this server")


def _pyenv() -> list[_Candidate]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    out = []
    for d in _listdir(root):
        if re.fullmatch(r"\d+\.\d+\.\d+", d.name):
            out.append(_Candidate(d.name, d / "bin" / "python3", "pyenv"))
    return out


def _uv_managed() -> list[_Candidate]:
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    root = Path(os.environ.get("UV_PYTHON_INSTALL_DIR") or Path(data) / "uv" / "python")
    out = []
    for d in _listdir(root):
        m = re.fullmatch(r"cpython-(\d+\.\d+\.\d+)-.*", d.name)
        if m:
            out.append(_Candidate(m.group(1), d / "bin" / "python3", "uv"))
    return out


def _on_path() -> list[_Candidate]:
    dirs = os.environ.get("PATH", "").split(os.pathsep) + list(_SYSTEM_BIN)
    out = []
    for d in dirs:
        if not d or "shims" in Path(d).parts:
            continue
        for f in _listdir(Path(d)):
            m = re.fullmatch(r"python(\d+\.\d+)", f.name)
            if m:
                out.append(_Candidate(m.group(1), f, "PATH"))
    return out


def _is_venv(executable: Path) -> bool:
    return (executable.parent.parent / "pyvenv.cfg").exists()


def _listdir(d: Path) -> list[Path]:
    try:
        return [d / name for name in sorted(os.listdir(d))]
    except OSError:
        return []


def _not_found_message(requested: str) -> str:
    versions = sorted(
        {c.version for c in candidates()}, key=lambda v: [int(p) for p in v.split(".")]
    )
    have = ", ".join(versions) or "none"
    return (
        f"python_version={requested!r}: no Python {requested} interpreter on this machine"
        f" (found: {have}; searched this server's interpreter, pyenv, uv-managed Pythons and"
        f" PATH). uv cannot download interpreters on a closed network, so install one (for example"
        f" `pyenv install {requested}` or `uv python install {requested}` where downloads work) or"
        f" choose one of the versions found."
    )
