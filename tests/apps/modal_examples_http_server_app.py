"""Modal's `@modal.experimental.http_server(port=...)` under `@app.cls()`: an @app.server class.
Its server lists the working directory, /root, where the app's own module sits."""

from pathlib import Path

import modal
import modal.experimental

PORT = 8123  # containers share the host's ports: one no other test uses
app = modal.App("modal-examples-http-server")


@app.cls()
@modal.experimental.http_server(port=PORT, proxy_regions=["us-east"])
class FileServer:
    @modal.enter()
    def start(self):
        import subprocess

        subprocess.Popen(["python", "-m", "http.server", f"{PORT}"])


@app.local_entrypoint()
def ping():
    from urllib.request import urlopen

    [url] = FileServer._experimental_get_flash_urls()
    this = Path(__file__).name
    body = urlopen(f"{url}/{this}").read().decode()  # the gateway waits while it starts
    print("served itself:", "class FileServer" in body)
