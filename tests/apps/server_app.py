"""@app.server classes: an @enter method starts an HTTP server on the port; the gateway serves
it. One asks for proxy-auth credentials (the default), one never listens."""

from __future__ import annotations

import subprocess
import sys

import gworker_client as gw

app = gw.App("server-app")


@app.server(
    port=28741,
    unauthenticated=True,
    scaledown_window=5,
    proxy_regions=["us-east", "eu-west"],
    target_concurrency=4,
)
class FileServer:
    @gw.enter()
    def start(self) -> None:
        with open("/tmp/hello.txt", "w") as f:
            f.write("served by an @app.server class")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", "28741", "--bind", "127.0.0.1", "-d", "/tmp"]
        )

    @gw.exit()
    def stop(self) -> None:
        self.proc.terminate()


@app.server(port=28742)
class Private:
    @gw.enter()
    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", "28742", "--bind", "127.0.0.1", "-d", "/tmp"]
        )


silent = gw.App("server-silent")


@silent.server(port=28743, unauthenticated=True, startup_timeout=1)
class NeverListens:
    @gw.enter()
    def start(self) -> None:
        pass
