"""``python -m gworker.server --home DIR --host H --port P``: run the control plane."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from .app import BACKENDS, serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="gworker.server")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    # the backend also comes from the environment, so a server restarted by hand keeps it
    parser.add_argument(
        "--backend", choices=BACKENDS, default=os.environ.get("GW_BACKEND") or "local"
    )
    parser.add_argument("--ray-address", default=os.environ.get("GW_RAY_ADDRESS") or None)
    parser.add_argument("--advertise-url", default=os.environ.get("GW_ADVERTISE_URL") or None)
    args = parser.parse_args()
    if args.backend not in BACKENDS:
        parser.error(f"backend {args.backend!r} is not one of {', '.join(BACKENDS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:  # uvloop's event loop makes each request cheaper; asyncio's works too
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    home = args.home.expanduser()
    asyncio.run(
        serve(home, args.host, args.port, args.backend, args.ray_address, args.advertise_url)
    )


if __name__ == "__main__":
    main()
