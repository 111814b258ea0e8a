"""The host's pip index settings, handed to uv so image builds see the same packages pip does.

A machine whose operator points pip at a local wheel directory or mirror (``find-links``,
``index-url``, ``extra-index-url`` in ``PIP_*`` variables or pip.conf) builds images from the
same sources; uv does not read pip's configuration on its own.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from urllib.parse import urlsplit

_CONFIG_FILES = (
    Path("/etc/pip.conf"),
    Path("/etc/xdg/pip/pip.conf"),
    Path.home() / ".pip" / "pip.conf",
    Path.home() / ".config" / "pip" / "pip.conf",
)
_KEYS = {
    "find-links": "UV_FIND_LINKS",
    "index-url": "UV_INDEX_URL",
    "extra-index-url": "UV_EXTRA_INDEX_URL",
}
# uv's separators for the lists it reads from these variables
_SEPARATORS = {"UV_FIND_LINKS": ",", "UV_EXTRA_INDEX_URL": " ", "UV_INDEX_URL": " "}


def _from_files() -> dict[str, str]:
    found: dict[str, str] = {}
    parser = configparser.ConfigParser()
    for path in _CONFIG_FILES:
        if path.exists():
            parser.read(path)
            for key in _KEYS:
                if parser.has_option("global", key):
                    found[key] = parser.get("global", key)
    return found


def _usable(location: str) -> bool:
    """A local path or file:// URL that does not exist would fail every build: skip it."""
    parts = urlsplit(location)
    if parts.scheme in ("http", "https"):
        return True
    return Path(parts.path if parts.scheme == "file" else location).exists()


def uv_index_env() -> dict[str, str]:
    settings = _from_files()
    for key in _KEYS:
        value = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if value:
            settings[key] = value
    env: dict[str, str] = {}
    for key, variable in _KEYS.items():
        if variable in os.environ or key not in settings:
            continue  # uv's own settings win
        locations = [loc for loc in settings[key].split() if _usable(loc)]
        if locations:
            env[variable] = _SEPARATORS[variable].join(locations)
    if env and "UV_INDEX_STRATEGY" not in os.environ:
        env["UV_INDEX_STRATEGY"] = "unsafe-best-match"  # pip weighs every index's versions
    return env
