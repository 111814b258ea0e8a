"""``Sandbox``: a container for code its owner does not trust, driven command by command.

A sandbox runs its image with its own filesystem view, process namespace, unprivileged user,
cgroup limits and network namespace, and no gworker token (see ``docs/sandboxes.md``). The SDK
reaches it only through the control plane, which relays to an agent inside.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from . import _api, _config
from . import exception as exc
from ._aio import IteratingOperation, Operation, blocking
from ._app import App
from ._build import build_images
from ._container_process import ContainerProcess, StreamReader, StreamWriter
from ._file_io import FileIO, file_request
from ._image import Image
from ._options import check_mounts
from ._probe import Probe
from ._protocol.sandbox import (
    MAIN_PROCESS,
    MAX_SANDBOX_TIMEOUT_S,
)
from ._sandbox_args import (
    _allowlist,
    _check_args,
    _check_env,
    _check_path,
    _check_timeout,
    _check_workdir,
    _gpu,
    _limit,
    _ports,
    _probe_record,
    _pty_size,
    _refuse_unsupported,
    _secrets,
)
from ._secret import Secret
from ._tunnel import Tunnel
from ._volume import Volume

# Images already built for an app (server URL, app id, image digest -> spec): a sandbox started
# again from the same image skips the build request.
_built: dict[tuple[str, str, str], dict[str, Any]] = {}


def _image_spec(client: _api.Client, app_id: str, image: Image) -> dict[str, Any]:
    key = (client.url, app_id, image.digest)
    if key not in _built:
        _built[key] = build_images(client, app_id, {"": image})[""]
    return _built[key]


class Sandbox:
    """A running (or ended) sandbox. Create one with ``Sandbox.create``; find one with
    ``from_id``, ``from_name`` or ``list``."""

    def __init__(self, sandbox_id: str, info: dict[str, Any] | None = None) -> None:
        self._id = sandbox_id
        self._info = info or {}
        self._detached = False
        self.stdout = StreamReader(sandbox_id, MAIN_PROCESS, "stdout")
        self.stderr = StreamReader(sandbox_id, MAIN_PROCESS, "stderr")
        self.stdin = StreamWriter(sandbox_id, MAIN_PROCESS)

    def __repr__(self) -> str:
        return f"Sandbox({self._id})"

    @property
    def _ref(self) -> str:
        """Its id, for a request; refused once the handle was detached."""
        if self._detached:
            raise exc.InvalidError(
                f"this handle on sandbox {self._id} was detached; the sandbox may still run:"
                f" get a new handle with gw.Sandbox.from_id({self._id!r})"
            )
        return quote(self._id)

    @property
    def object_id(self) -> str:
        return self._id

    @Operation
    def create(
        *args: str,
        app: App | None = None,
        image: Image | None = None,
        timeout: int = 300,
        workdir: str | None = None,
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        secrets: Sequence[Secret] = (),
        volumes: Mapping[str, Any] | None = None,
        env: Mapping[str, str | None] | None = None,
        name: str | None = None,
        block_network: bool = False,
        idle_timeout: int | None = None,
        readiness_probe: Probe | None = None,
        encrypted_ports: Sequence[int] = (),
        unencrypted_ports: Sequence[int] = (),
        cidr_allowlist: Sequence[str] | None = None,
        gpu: Any = None,
        **options: Any,
    ) -> Sandbox:
        """Start a sandbox running ``args`` (or nothing but its agent, for ``exec`` only) in
        ``image`` (Debian slim by default). It ends when its command exits, after ``timeout``
        seconds (exit code 124), after ``idle_timeout`` seconds with no ``exec``, stdin or file
        use (124 too), or at ``terminate()``. With ``readiness_probe``
        (``gw.Probe.with_tcp(port)`` or ``gw.Probe.with_exec(...)``), ``wait_until_ready()``
        returns once it passes.

        ``volumes={path: gw.Volume}`` are filled before it starts and committed when it ends;
        ``encrypted_ports``/``unencrypted_ports`` are reachable through the control plane
        (``tunnels()``); ``cidr_allowlist`` limits where it may connect (``block_network=True``:
        nowhere); ``gpu`` takes devices from the same inventory as functions (waiting for one
        that is held). See ``docs/sandboxes.md``."""
        _refuse_unsupported(options, "Sandbox.create")
        cmd = _check_args(args, "Sandbox.create")
        if app is None or not isinstance(app, App):
            raise exc.InvalidError(
                "Sandbox.create needs app=: a running app, or"
                " gw.App.lookup('my-app', create_if_missing=True)"
            )
        if app.app_id is None:
            raise exc.InvalidError(
                f"app {app.name!r} is not running: create sandboxes inside `with app.run():`,"
                " or use gw.App.lookup(name, create_if_missing=True)"
            )
        mounts = [
            {"mount_path": path, "volume_id": vol.object_id, "name": vol.name}
            for path, vol in check_mounts(volumes or {}, "Sandbox.create", "volumes", Volume)
        ]
        if isinstance(timeout, bool) or not isinstance(timeout, int):
            raise exc.InvalidError(f"timeout={timeout!r} must be a whole number of seconds")
        if not 0 < timeout <= MAX_SANDBOX_TIMEOUT_S:
            raise exc.InvalidError(f"timeout={timeout} must be in 1..{MAX_SANDBOX_TIMEOUT_S}")
        if idle_timeout is not None and (
            isinstance(idle_timeout, bool)
            or not isinstance(idle_timeout, int)
            or not 0 < idle_timeout <= MAX_SANDBOX_TIMEOUT_S
        ):
            raise exc.InvalidError(
                f"idle_timeout={idle_timeout!r} must be whole seconds in 1..{MAX_SANDBOX_TIMEOUT_S}"
            )
        if readiness_probe is not None and (
            not isinstance(readiness_probe, Probe) or not readiness_probe.for_sandbox
        ):
            raise exc.InvalidError(
                f"readiness_probe={readiness_probe!r} must be gw.Probe.with_tcp(port) or"
                " gw.Probe.with_exec(*argv)"
            )
        if image is not None and not isinstance(image, Image):
            raise exc.InvalidError(f"image={image!r} must be a gw.Image")
        client = _api.client()
        built = _image_spec(client, app.app_id, image or Image.debian_slim())
        named, inline = _secrets(secrets)
        memory_mib = _limit("memory", memory, int)
        body = {
            "sandbox_id": "sb-" + uuid.uuid4().hex[:24],
            "app_id": app.app_id,
            "image": built,
            "args": cmd,
            "timeout": timeout,
            "workdir": _check_workdir(workdir),
            "cpu": _limit("cpu", cpu, float),
            "memory_mib": memory_mib,
            "env": _check_env(env),
            "secrets": named,
            "inline_env": inline,
            "name": name,
            "block_network": bool(block_network),
            "idle_timeout": idle_timeout,
            "readiness_probe": _probe_record(readiness_probe),
            "volumes": mounts,
            "encrypted_ports": _ports("encrypted_ports", encrypted_ports, block_network),
            "unencrypted_ports": _ports("unencrypted_ports", unencrypted_ports, block_network),
            "cidr_allowlist": _allowlist(cidr_allowlist, block_network),
            "gpu": _gpu(gpu),
        }
        info = client.post("/v1/sandboxes", body, timeout=600)
        return Sandbox(info["sandbox_id"], info)

    @Operation
    def from_id(sandbox_id: str) -> Sandbox:
        """A handle on a sandbox by id (running or ended)."""
        info = _api.client().get(f"/v1/sandboxes/{quote(sandbox_id, safe='')}")
        return Sandbox(info["sandbox_id"], info)

    @Operation
    def from_name(app_name: str, name: str, *, environment_name: str | None = None) -> Sandbox:
        """The running sandbox called ``name`` in the deployed app ``app_name``."""
        app = App.lookup(app_name, environment_name=environment_name)
        query = urlencode({"app_id": app.app_id, "name": name})
        info = _api.client().get(f"/v1/sandboxes/by-name?{query}")
        return Sandbox(info["sandbox_id"], info)

    @IteratingOperation
    def list(*, app_id: str | None = None) -> Iterator[Sandbox]:
        """The running sandboxes (of one app, with ``app_id``)."""
        query = f"?{urlencode({'app_id': app_id})}" if app_id else ""
        for info in _api.client().get(f"/v1/sandboxes{query}")["sandboxes"]:
            yield Sandbox(info["sandbox_id"], info)

    # -- commands --------------------------------------------------------------------------------

    @blocking
    def exec(
        self,
        *args: str,
        workdir: str | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float | None = None,
        text: bool = True,
        bufsize: int = -1,
        pty: bool | tuple[int, int] = False,
    ) -> ContainerProcess:
        """Run a command in the sandbox; its output streams back live. A command that does not
        exist exits with 127 and says so on stderr, as a shell would. With ``pty`` (True, or
        its ``(rows, columns)``) it runs on a pseudo-terminal, as an interactive shell wants:
        everything it prints comes on ``stdout``, and ``p.resize(rows, cols)`` follows a
        window's size."""
        if not args:
            raise exc.InvalidError("Sandbox.exec needs a command, like sb.exec('ls', '-l')")
        if bufsize not in (-1, 1):
            raise exc.InvalidError(f"bufsize={bufsize!r} must be -1 (default) or 1 (lines)")
        if timeout is not None:
            _check_timeout(timeout)
        body = {
            "args": _check_args(args, "Sandbox.exec"),
            "workdir": _check_workdir(workdir),
            "env": _check_env(env),
            "timeout": timeout,
            "pty": _pty_size(pty),
        }
        resp = _api.client().post(f"/v1/sandboxes/{self._ref}/exec", body, idempotent=False)
        return ContainerProcess(self._ref, resp["process_id"], text)

    # -- life ------------------------------------------------------------------------------------

    @property
    def returncode(self) -> int | None:
        """The main command's exit code once the sandbox ended (124 after its timeout, 137 when
        terminated), else None."""
        return self._info.get("returncode")

    def _wait(self, timeout: float) -> dict[str, Any]:
        self._info = _api.client().post(
            f"/v1/sandboxes/{self._ref}/wait?timeout={timeout}", timeout=timeout + 30
        )
        return self._info

    @blocking
    def poll(self) -> int | None:
        """The exit code if the sandbox has ended, else None (without waiting)."""
        return self._wait(0).get("returncode")

    @blocking
    def wait(self, raise_on_termination: bool = True) -> None:
        """Wait for the sandbox to end. Raises SandboxTimeoutError if its timeout ended it, and
        SandboxTerminatedError if it was terminated (unless ``raise_on_termination=False``)."""
        while self._info.get("state", "running") == "running":
            self._wait(_config.LONG_POLL_S)
        state = self._info["state"]
        if state == "timeout":
            raise exc.SandboxTimeoutError(f"sandbox {self._id} {self._info['info']}")
        if state in ("terminated", "failed") and raise_on_termination:
            raise exc.SandboxTerminatedError(f"sandbox {self._id} {self._info['info']}")

    @blocking
    def wait_until_ready(self, *, timeout: float = 300) -> None:
        """Wait until its ``readiness_probe`` passes. Raises TimeoutError after ``timeout``
        seconds, SandboxTerminatedError if it ended first, InvalidError if it has no probe."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            wait = max(0.0, min(left, _config.LONG_POLL_S))
            resp = _api.client().post(
                f"/v1/sandboxes/{self._ref}/ready?timeout={wait}", timeout=wait + 30
            )
            if resp["ready"]:
                return
            if resp["state"] != "running":
                raise exc.SandboxTerminatedError(
                    f"sandbox {self._id} ended before it was ready: {resp['info']}"
                )
            if left <= 0:
                raise exc.TimeoutError(
                    f"sandbox {self._id} was not ready within {timeout:g} s"
                    " (its readiness_probe has not passed)"
                )

    @blocking
    def tunnels(self, timeout: int = 50) -> dict[int, Tunnel]:
        """How to reach each port declared in ``encrypted_ports``/``unencrypted_ports``, by
        port. They are open by the time ``create`` returns, so there is no wait for
        ``timeout`` to bound (it is checked, for Modal's signature)."""
        _check_timeout(timeout)
        client = _api.client()
        resp = client.get(f"/v1/sandboxes/{self._ref}/tunnels")
        return {t["port"]: Tunnel._from_info(client.url, t) for t in resp["tunnels"]}

    @blocking
    def snapshot_filesystem(self, timeout: int = 55) -> Image:
        """Its filesystem now, as an Image that later sandboxes and functions start from
        (``Sandbox.create(image=...)``, ``@app.function(image=...)``): its image's layers plus
        one holding what it changed, files deleted included. ``/tmp``, volumes and other
        mounts are not part of it. Its processes keep running. The image is kept on the server
        (``Image.from_id(image.object_id)`` finds it, ``gw image list`` shows it). Raises
        TimeoutError if it takes more than ``timeout`` seconds, InvalidError if the sandbox is
        not running."""
        _check_timeout(timeout)
        resp = _api.client().post(
            f"/v1/sandboxes/{self._ref}/snapshot_filesystem",
            {"timeout": float(timeout)},
            timeout=float(timeout) + 30,
            idempotent=False,
        )
        return Image._snapshot(resp["image_id"], resp["python_version"])

    def detach(self) -> None:
        """Let go of this handle: the sandbox keeps running (``Sandbox.from_id`` finds it
        again); this object can no longer be used."""
        self._detached = True

    # -- files -----------------------------------------------------------------------------------

    @blocking
    def open(self, path: str, mode: str = "r") -> FileIO:
        """Open a file inside the sandbox (as its user; relative paths from its working
        directory). Modes as Python's ``open``: ``r``, ``w``, ``a``, ``x``, with ``b``, ``+``."""
        return FileIO(self._ref, _check_path(path), mode)

    @blocking
    def ls(self, path: str) -> builtins.list[str]:
        """The names in a directory of the sandbox, sorted."""
        raw = file_request(self._ref, "ls", path=_check_path(path))
        return [n.decode(errors="surrogateescape") for n in raw.split(b"\0")] if raw else []

    @blocking
    def mkdir(self, path: str, parents: bool = False) -> None:
        """Make a directory in the sandbox (with ``parents``, also its missing parents, and
        no error if it exists)."""
        file_request(self._ref, "mkdir", path=_check_path(path), parents=bool(parents))

    @blocking
    def rm(self, path: str, recursive: bool = False) -> None:
        """Remove a file or an empty directory in the sandbox (with ``recursive``, a directory
        and everything in it)."""
        file_request(self._ref, "rm", path=_check_path(path), recursive=bool(recursive))

    @blocking
    def terminate(self, *, wait: bool = False) -> None:
        """End the sandbox now: every process in it is killed; with ``wait=True``, return once
        it has ended."""
        self._info = _api.client().post(f"/v1/sandboxes/{self._ref}/terminate")
        while wait and self._info.get("state", "running") == "running":
            self._wait(_config.LONG_POLL_S)

    @property
    def _experimental_sidecars(self) -> Any:
        """Modal's sidecar containers (another image sharing the sandbox's network): refused."""
        raise exc.InvalidError(
            "Sandbox sidecars are not provided by gworker: a sandbox is one container. Run the"
            " sidecar's program in the sandbox itself, from an image that has it"
            " (e.g. .apt_install('redis-server'), then sb.exec('redis-server', ...)), and reach"
            " it on 127.0.0.1"
        )

    @blocking
    def info(self) -> dict[str, Any]:
        """What the control plane says about it: state, exit code, why it ended."""
        self._info = _api.client().get(f"/v1/sandboxes/{self._ref}")
        return dict(self._info)
