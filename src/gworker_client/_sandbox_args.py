"""The checks and conversions of ``Sandbox``'s arguments: each bad value is refused at the call
with an ``InvalidError`` naming it, and each good one turned into what the request carries."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from . import exception as exc
from ._gpu import parse_gpu
from ._probe import Probe
from ._protocol.sandbox import UNSUPPORTED_OPTIONS
from ._secret import Secret

_EMPTY: tuple[Any, ...] = (None, False, (), [], {})


def _limit(name: str, value: Any, kind: type) -> Any:
    """``cpu``/``memory``: a number, or Modal's ``(request, limit)``: the limit is enforced."""
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 2:
        value = value[1]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise exc.InvalidError(f"{name}={value!r} must be a positive number or (request, limit)")
    return kind(value)


def _check_args(args: Sequence[Any], what: str) -> list[str]:
    bad = [a for a in args if not isinstance(a, str)]
    if bad:
        raise exc.InvalidError(f"{what} arguments must be strings, got {bad[0]!r}")
    return list(args)


def _check_timeout(timeout: object) -> None:
    """A wait's ``timeout``: a positive number of seconds."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise exc.InvalidError(f"timeout={timeout!r} must be a positive number of seconds")


def _check_env(env: Mapping[str, str | None] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (env or {}).items():
        if not isinstance(k, str) or not (v is None or isinstance(v, str)):
            raise exc.InvalidError(f"env must map str to str, got {k!r}: {v!r}")
        if v is not None:
            out[k] = v
    return out


def _check_workdir(workdir: str | None) -> str | None:
    if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
        raise exc.InvalidError(f"workdir={workdir!r} must be an absolute path, like '/app'")
    return workdir


def _check_path(path: str) -> str:
    if not isinstance(path, str) or not path or "\0" in path:
        raise exc.InvalidError(f"path {path!r} must be a non-empty string")
    return path


def _refuse_unsupported(options: dict[str, Any], where: str) -> None:
    for key, value in options.items():
        if key not in UNSUPPORTED_OPTIONS:
            raise exc.InvalidError(f"{where} got an unknown option {key}={value!r}")
        if value not in _EMPTY:
            raise exc.InvalidError(
                f"{where}: {key}={value!r} is not supported by this version of gworker yet;"
                f" leave it out ({UNSUPPORTED_OPTIONS[key]})"
            )


def _secrets(secrets: Sequence[Secret]) -> tuple[list[dict[str, str]], dict[str, str]]:
    named: list[dict[str, str]] = []
    inline: dict[str, str] = {}
    for s in secrets:
        if not isinstance(s, Secret):
            raise exc.InvalidError(f"secrets must be gw.Secret objects, got {s!r}")
        if s._name is not None:
            named.append({"name": s._name, "environment": s._environment})
        else:
            inline.update(s._values or {})
    return named, inline


def _allowlist(cidrs: Sequence[str] | None, block_network: bool) -> list[str] | None:
    if cidrs is None:
        return None
    if isinstance(cidrs, str) or not all(isinstance(c, str) for c in cidrs):
        raise exc.InvalidError(
            f"cidr_allowlist={cidrs!r} must be a list of CIDRs, like ['10.0.0.0/8']"
        )
    if block_network:
        raise exc.InvalidError("cidr_allowlist cannot be used with block_network=True")
    return list(cidrs)


def _pty_size(pty: bool | tuple[int, int]) -> list[int] | None:
    if pty is False:
        return None
    if pty is True:
        size = shutil.get_terminal_size()
        return [size.lines, size.columns]
    if (
        isinstance(pty, tuple)
        and len(pty) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 10_000 for n in pty)
    ):
        return list(pty)
    raise exc.InvalidError(f"pty={pty!r} must be True, False or (rows, columns)")


def _gpu(gpu: Any) -> list[dict[str, Any]] | None:
    requests = parse_gpu(gpu)
    return None if requests is None else [{"type": r.type, "count": r.count} for r in requests]


def _ports(name: str, ports: Sequence[int], block_network: bool = False) -> list[int]:
    bad = [p for p in ports if isinstance(p, bool) or not isinstance(p, int) or not 0 < p < 65536]
    if isinstance(ports, (str, bytes)) or bad:
        raise exc.InvalidError(f"{name}={ports!r}: ports must be whole numbers in 1..65535")
    if ports and block_network:
        raise exc.InvalidError(
            f"{name}={list(ports)!r}: a sandbox with block_network=True has no network, so no"
            " ports: drop the ports, or block_network"
        )
    return list(ports)


def _probe_record(probe: Probe | None) -> dict[str, Any] | None:
    if probe is None:
        return None
    argv = list(probe.exec_argv) if probe.exec_argv is not None else None
    return {"tcp_port": probe.tcp_port, "exec_argv": argv, "interval_ms": probe.interval_ms}
