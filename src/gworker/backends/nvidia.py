"""The host's NVIDIA driver in a GPU container's image, as NVIDIA's container toolkit puts it.

The user-space driver (``libcuda``, NVML, the PTX JIT, ...) must match the host's kernel module,
so it comes from the host, never from the image: each library the dynamic linker knows
(``ldconfig -p``) whose name is one of the driver's is bound read-only into the image's
``/usr/lib/<multiarch>/`` under its soname and its unversioned name, and the driver's tools
(``nvidia-smi``, ...) into ``/usr/bin``. The devices themselves (``/dev/nvidia*``) are bound by
``launch.py`` for the granted GPUs only. A machine without the driver binds nothing.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from ..isolation import Mount
from .gpus import Grant

# the driver's libraries, as libnvidia-container lists them (compute, utility, video, graphics)
_LIBRARIES = re.compile(
    r"^(libcuda|libcudadebugger|libnvidia-[a-z0-9-]+|libnvcuvid|libnvoptix"
    r"|libGLX_nvidia|libEGL_nvidia|libGLESv2_nvidia|libGLESv1_CM_nvidia)\.so"
)
_BINARIES = (
    "nvidia-smi",
    "nvidia-debugdump",
    "nvidia-persistenced",
    "nvidia-cuda-mps-control",
    "nvidia-cuda-mps-server",
)
_LINE = re.compile(r"^\s*(\S+) \((\S+)\) => (\S+)$")


def driver_binds(grant: Grant | None) -> dict[str, Mount]:
    """Container path -> host file, for a container granted ``grant`` (none without one)."""
    if grant is None:
        return {}
    return dict(_driver_files())


@functools.lru_cache(maxsize=1)
def _driver_files() -> tuple[tuple[str, Mount], ...]:
    out: dict[str, Mount] = {}
    libdir = f"/usr/lib/{_multiarch()}"
    for name, flags, path in _ldconfig():
        if "x86-64" not in flags and "64bit" not in flags and "AArch64" not in flags:
            continue  # 32-bit compatibility libraries: images run 64-bit code
        if not _LIBRARIES.match(name) or not os.path.exists(path):
            continue
        real = Path(os.path.realpath(path))
        out.setdefault(f"{libdir}/{name}", Mount(real))
        plain = name.split(".so")[0] + ".so"
        out.setdefault(f"{libdir}/{plain}", Mount(real))
    for tool in _BINARIES:
        found = shutil.which(tool)
        if found:
            out[f"/usr/bin/{tool}"] = Mount(Path(os.path.realpath(found)))
    return tuple(sorted(out.items()))


def _ldconfig() -> list[tuple[str, str, str]]:
    try:
        text = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            found.append((m.group(1), m.group(2), m.group(3)))
    return found


def _multiarch() -> str:
    machine = os.uname().machine
    return {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(
        machine, f"{machine}-linux-gnu"
    )
