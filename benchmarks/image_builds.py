"""Image build times: the Debian base cold (mmdebstrap, once per machine), its import into a
fresh GW_HOME, the default image, an apt and a pip layer cold, and each image cached.

    .venv/bin/python benchmarks/image_builds.py [--keep-base]

Needs root (overlayfs) and the network to Debian's mirrors for the cold base; ``--keep-base``
skips that row and uses the machine's cached base (``~/.cache/gworker/rootfs``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gworker.images import ImageBuilder, debian
from gworker_client._image import Image


def timed(what: str, fn: Callable[[], object]) -> None:
    began = time.perf_counter()
    fn()
    print(f"{what:<52} {time.perf_counter() - began:8.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep-base", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="gw-image-bench-") as tmp:
        if not args.keep_base:
            os.environ["GW_ROOTFS_CACHE"] = str(Path(tmp) / "rootfs")
            debian.release.cache_clear()
            timed("Debian base, cold (mmdebstrap)", lambda: debian.ensure_base(lambda _: None))
        builder = ImageBuilder(Path(tmp) / "home", lambda sha: b"")
        default = Image.debian_slim()
        apt = default.apt_install("cowsay")
        pip = default.pip_install("six")
        for name, image in (("default image", default), ("+ apt_install", apt), ("+ pip", pip)):
            spec = image.to_spec()
            for state in ("cold", "cached"):
                timed(f"{name}, {state}", lambda spec=spec: builder.build(spec))
        if not args.keep_base:
            shutil.rmtree(Path(tmp) / "rootfs", ignore_errors=True)


if __name__ == "__main__":
    main()
