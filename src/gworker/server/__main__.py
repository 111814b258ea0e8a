"""``python -m gworker.server --home DIR --host H --port P``: run the control plane."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from .app import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="gworker.server")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:  # uvloop's event loop makes each request cheaper; asyncio's works too
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.home.expanduser(), args.host, args.port))


if __name__ == "__main__":
    main()
