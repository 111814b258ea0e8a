"""Containers under bubblewrap in their image's root filesystem: nothing of the host's files, the
network to the control plane, a cut set of privileges, and graceful SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gworker import isolation
from gworker.isolation import Identity, Mount

PROJECT = Path(__file__).resolve().parents[2]


def command(image, code: str, **kwargs) -> tuple[list[str], Callable[[], None]]:
    """The argv running ``code`` in the image's root, and the pre-exec hook that mounts it."""
    rootfs = image.rootfs()
    argv = [image.python, "-c", textwrap.dedent(code)]
    return isolation.command(image, argv, root=rootfs.merged, **kwargs), rootfs.mount_in_child


def run(image, code: str, **kwargs) -> subprocess.CompletedProcess[str]:
    argv, mount = command(image, code, **kwargs)
    return subprocess.run(
        argv, env=image.environ(), capture_output=True, text=True, timeout=60, preexec_fn=mount
    )


def probe(image, code: str, **kwargs) -> dict:
    out = run(image, code, **kwargs)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_host_home_and_project_are_hidden(built_image, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host only")
    seen = probe(
        built_image,
        f"""
        import json, os
        print(json.dumps({{
            "project": os.path.exists({str(PROJECT)!r}),
            "secret": os.path.exists({str(secret)!r}),
            "home": sorted(os.listdir("/root")),
            "top": sorted(os.listdir("/")),
        }}))
        """,
    )
    assert not seen["project"] and not seen["secret"]
    # the image's own home (Debian's skeleton), nothing of the host's
    assert not set(seen["home"]) - {".bashrc", ".profile"}, seen["home"]
    assert "work" not in seen["top"] and "usr" in seen["top"], seen["top"]


def test_added_files_appear_at_their_paths(built_image):
    seen = probe(
        built_image,
        """
        import json, os
        writable = True
        try:
            open("/data/notes.txt", "a").close()
        except OSError:
            writable = False
        print(json.dumps({
            "config": open("/app/config.json").read(),
            "notes": open("/data/notes.txt").read(),
            "cwd": os.getcwd(),
            "writable": writable,
            "env": os.environ.get("GW_TEST_IMAGE"),
        }))
        """,
    )
    assert seen == {
        "config": '{"mode": "test"}',
        "notes": "added to the image\n",
        "cwd": "/app",
        "writable": False,
        "env": "1",
    }


def test_tmp_and_home_are_private_and_writable(built_image, tmp_path):
    host_file = Path("/tmp") / f"gw-host-{os.getpid()}"
    host_file.write_text("host")
    try:
        code = f"""
            import json, os
            before = os.listdir("/tmp")
            open("/tmp/mine", "w").write("x")
            open(os.path.expanduser("~/mine"), "w").write("x")
            print(json.dumps({{"host": os.path.exists({str(host_file)!r}), "before": before}}))
            """
        first, second = probe(built_image, code), probe(built_image, code)
    finally:
        host_file.unlink()
    assert not first["host"]
    assert "mine" not in second["before"]  # the first container's /tmp is gone with it
    assert not Path("/tmp/mine").exists()


def test_container_code_holds_only_ordinary_root_privileges(built_image):
    seen = probe(
        built_image,
        """
        import json, os
        caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")]
        try:
            open("/etc/shadow").read()
            shadow = "readable"
        except OSError:
            shadow = "unreadable"
        print(json.dumps({"uid": os.getuid(), "caps": caps[0], "shadow": shadow,
                          "pids": [p for p in os.listdir("/proc") if p.isdigit()]}))
        """,
    )
    # root, as in Modal, without the capabilities that reach past its own files (no mounts, no
    # raw network, no modules: CAP_SYS_ADMIN is bit 21, CAP_NET_RAW 13, CAP_SYS_MODULE 16)
    assert seen["uid"] == 0
    caps = int(seen["caps"], 16)
    assert caps and not caps & (1 << 21 | 1 << 13 | 1 << 16)
    assert str(os.getpid()) not in seen["pids"] and len(seen["pids"]) < 5  # its own pid namespace


def test_loopback_reaches_the_host_unless_the_network_is_cut(built_image):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        conn.sendall(b"control plane")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    code = f"""
        import socket
        try:
            print(socket.create_connection(("127.0.0.1", {port}), timeout=5).recv(100).decode())
        except OSError as e:
            print("unreachable", type(e).__name__)
        """
    try:
        assert run(built_image, code).stdout.strip() == "control plane"
        assert run(built_image, code, network=False).stdout.startswith("unreachable")
    finally:
        server.close()


def test_sigterm_reaches_the_payload_which_exits_gracefully(built_image):
    code = """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *a: (print("graceful exit", flush=True), sys.exit(0)))
        print("ready", flush=True)
        time.sleep(60)
        """
    argv, mount = command(built_image, code)

    def preexec() -> None:
        isolation.preexec()
        mount()

    proc = subprocess.Popen(
        argv,
        env=built_image.environ(),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=preexec,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    os.killpg(proc.pid, signal.SIGTERM)
    rest, _ = proc.communicate(timeout=30)
    assert rest.strip() == "graceful exit"
    assert proc.returncode == 0


def test_signal_deaths_are_reported_as_signals(built_image):
    out = run(built_image, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert isolation.payload_returncode(out.returncode) == -signal.SIGKILL
    assert isolation.payload_returncode(run(built_image, "raise SystemExit(7)").returncode) == 7


def test_writable_mounts_anywhere_and_a_private_root(built_image, tmp_path):
    out = run(
        built_image,
        "open('/usr/share/gw-out/result.txt', 'w').write('kept');"
        " open('/usr/lib/scribble', 'w').write('gone at exit')",
        mounts={"/usr/share/gw-out": Mount(tmp_path, writable=True)},
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "result.txt").read_text() == "kept"
    again = run(built_image, "import os; print(os.path.exists('/usr/lib/scribble'))")
    assert again.stdout.strip() == "False"  # each container's writes are its own


def test_sandboxes_run_as_nobody(built_image):
    seen = probe(
        built_image,
        """
        import json, os
        caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")]
        os.makedirs("/root/.local/share")  # its HOME is its own to write, as a Modal sandbox's
        print(json.dumps({"uid": os.getuid(), "caps": caps[0]}))
        """,
        identity=Identity.SANDBOX,
    )
    assert seen == {"uid": isolation.NOBODY, "caps": "0000000000000000"}


def test_availability_is_reported_and_a_missing_bwrap_says_how_to_install(monkeypatch, tmp_path):
    assert isolation.describe()["mechanism"] == "bubblewrap + overlayfs"
    monkeypatch.setenv("PATH", str(tmp_path))
    isolation.unavailable_reason.cache_clear()
    try:
        reason = isolation.unavailable_reason()
        assert reason is not None and "apt-get install bubblewrap" in reason
        with pytest.raises(isolation.IsolationUnavailable, match="not installed"):
            isolation.check()
    finally:
        monkeypatch.undo()
        isolation.unavailable_reason.cache_clear()
    assert isolation.unavailable_reason() is None


def test_a_process_entering_a_container_gets_the_containers_capabilities(built_image):
    """``enter_prefix`` (for nsenter into a running container) gives what its payload has."""
    code = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0])"
    payload = probe(built_image, f"import json; {code.replace('print(', 'print(json.dumps(')})")
    entered = run(
        built_image,
        f"import subprocess; subprocess.run({isolation.enter_prefix(Identity.CONTAINER)!r}"
        f" + ['python', '-c', {code!r}])",
        identity=Identity.BUILD,
    )
    assert entered.stdout.strip() == payload, entered.stderr


def test_a_file_index_is_bound_with_the_files_it_links_beside_it(tmp_path):
    # a local mirror's `simple/pkg/index.html` links `../../files/pkg.whl`: both must be seen
    (tmp_path / "mirror" / "simple").mkdir(parents=True)
    (tmp_path / "wheels").mkdir()
    env, mounts = isolation.host_network(
        {
            "UV_EXTRA_INDEX_URL": f"file://{tmp_path}/mirror/simple",
            "UV_FIND_LINKS": f"{tmp_path}/wheels",
        }
    )
    inside = isolation.HOST_DIR + str(tmp_path)
    assert env["UV_EXTRA_INDEX_URL"] == f"file://{inside}/mirror/simple"
    assert mounts[f"{inside}/mirror"].source == (tmp_path / "mirror").resolve()
    assert env["UV_FIND_LINKS"] == f"{inside}/wheels"
    assert mounts[f"{inside}/wheels"].source == (tmp_path / "wheels").resolve()
    # several indexes, as pip.conf's extra-index-url lists them
    (tmp_path / "other" / "simple").mkdir(parents=True)
    both = f"file://{tmp_path}/mirror/simple file://{tmp_path}/other/simple"
    env, mounts = isolation.host_network({"UV_EXTRA_INDEX_URL": both})
    assert env["UV_EXTRA_INDEX_URL"] == both.replace("file://", f"file://{isolation.HOST_DIR}")
    assert {f"{inside}/mirror", f"{inside}/other"} <= set(mounts)
