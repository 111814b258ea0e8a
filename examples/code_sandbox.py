"""Run code nobody reviewed in a sandbox: put it there as a file, run it, and reach the web
server it starts through a tunnel once its readiness probe passes."""

import urllib.request

import gworker_client as gw

app = gw.App("code-sandbox")

UNTRUSTED = """
import http.server, json, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"uid": os.getuid(), "path": self.path}).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
"""


@app.local_entrypoint()
def main(path: str = "/hello"):
    sb = gw.Sandbox.create(
        app=app,
        timeout=120,
        idle_timeout=60,
        encrypted_ports=[8000],
        readiness_probe=gw.Probe.with_tcp(8000),
    )
    try:
        with sb.open("/tmp/server.py", "w") as f:
            f.write(UNTRUSTED)
        sb.exec("python", "/tmp/server.py")
        sb.wait_until_ready(timeout=60)
        print("files in /tmp:", sb.ls("/tmp"))
        with urllib.request.urlopen(sb.tunnels()[8000].url + path, timeout=30) as r:
            print("the sandbox answered:", r.read().decode())
    finally:
        sb.terminate()
