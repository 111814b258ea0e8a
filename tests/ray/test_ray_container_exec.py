"""`gw container exec` in a container on a Ray node: its actor starts the agent inside it on
the node and relays the agent's frames (``backends/ray_attach.py``)."""

from __future__ import annotations

import ray_web_app


def test_exec_in_a_container_on_another_node(on_ray):
    with ray_web_app.app.run():
        cid = ray_web_app.burn.remote(0.0, 0)  # it wrote /tmp/burned in its own /tmp
        script = "cat /tmp/burned; echo oops >&2; exit 4"
        r = on_ray.gw("container", "exec", cid, "sh", "-c", script)
        assert (r.returncode, r.stdout) == (4, "A100-80GB\n"), r.stderr
        assert "oops" in r.stderr
        r = on_ray.gw("container", "exec", cid, "sh", "-c", "env | grep -c GW_TOKEN")
        assert r.stdout.strip() == "0"  # its token is not handed to commands
        r = on_ray.gw("container", "exec", cid, "no-such-command")
        assert r.returncode == 127 and "not found" in r.stderr
        r = on_ray.gw("shell", cid, "--cmd", "cat /tmp/burned")
        assert r.returncode == 0 and "A100-80GB" in r.stdout, r.stderr
