"""How a sandbox is reached from outside it: its declared ports (forwarded by its network stack,
served as tunnels) and the token of its volume keeper; and the check of its ``cidr_allowlist``.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from gworker_client._protocol.sandbox import CreateSandbox, TunnelInfo

from ...backends import sandbox_firewall
from ..errors import InvalidRequest
from ..tunnels import Tunnels
from .sandbox_state import Sandbox


def forward_address(server_url: str) -> str | None:
    """The IPv4 address raw TCP forwards listen on: the one the server's own URL names (the
    address it listens on), resolved once, since slirp4netns takes only an IPv4 literal and a
    name could resolve differently later. None when it has no IPv4 address."""
    host = urlsplit(server_url).hostname or "127.0.0.1"
    try:
        found = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return None
    return str(found[0][4][0]) if found else None


def check_ports(req: CreateSandbox, tcp_addr: str | None, server_url: str) -> None:
    """Refuse ports the sandbox could not get, before anything of it starts."""
    if (req.encrypted_ports or req.unencrypted_ports) and req.block_network:
        raise InvalidRequest(
            "a sandbox with block_network=True has no network, so no ports: drop"
            f" encrypted_ports={list(req.encrypted_ports)}/unencrypted_ports="
            f"{list(req.unencrypted_ports)}, or block_network"
        )
    if req.unencrypted_ports and tcp_addr is None:
        raise InvalidRequest(
            f"unencrypted_ports={list(req.unencrypted_ports)} need an IPv4 address to listen on,"
            f" and the server's address in {server_url!r} has none: use encrypted_ports"
        )


def allowlist(req: CreateSandbox) -> tuple[str, ...] | None:
    if req.cidr_allowlist is None:
        return None
    if req.block_network:
        raise InvalidRequest(
            "cidr_allowlist has no effect with block_network=True (no network at all): use one"
        )
    try:
        return tuple(str(n) for n in sandbox_firewall.networks(req.cidr_allowlist))
    except ValueError as e:
        raise InvalidRequest(str(e)) from None


class SandboxReach:
    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.tcp_addr = forward_address(server_url)
        self.tunnels = Tunnels()
        # tokens of volume keepers (secret -> token id), valid while their sandbox runs
        self._keeper_tokens: dict[str, str] = {}
        self._keeper_volumes: dict[str, frozenset[str]] = {}  # keeper token id -> volume ids

    def check(self, req: CreateSandbox) -> None:
        check_ports(req, self.tcp_addr, self.server_url)

    async def open_ports(self, sb: Sandbox, req: CreateSandbox) -> None:
        """Forward each declared port: to loopback for the gateway and, for an unencrypted
        one, to the server's address (resolved once) for raw TCP too. Clients reach that by
        the host of their own server URL."""
        assert sb.process is not None
        self.check(req)
        for port in dict.fromkeys([*req.encrypted_ports, *req.unencrypted_ports]):
            local = await sb.process.forward(port, "127.0.0.1")
            tcp = None
            if port in req.unencrypted_ports:
                assert self.tcp_addr is not None
                same = self.tcp_addr == "127.0.0.1"
                tcp = local if same else await sb.process.forward(port, self.tcp_addr)
            self.tunnels.add(sb.id, port, local, tcp)

    def tunnel_info(self, sid: str) -> list[TunnelInfo]:
        return [
            TunnelInfo(port=t.port, path=f"/web/{t.label}", label=t.label, tcp_port=t.tcp_port)
            for t in self.tunnels.of(sid)
        ]

    def keeper_by_token(self, secret: str) -> str | None:
        return self._keeper_tokens.get(secret)

    def keeper_volumes(self, token_id: str) -> frozenset[str] | None:
        """The volume ids a keeper's token may reach (None: not a keeper's token)."""
        return self._keeper_volumes.get(token_id)

    def keeper_env(self, sb: Sandbox, volume_ids: Iterable[str]) -> tuple[tuple[str, str], ...]:
        secret = secrets.token_urlsafe(24)
        token_id = "sbv-" + sb.id
        self._keeper_tokens[secret] = token_id
        self._keeper_volumes[token_id] = frozenset(volume_ids)
        sb.keeper_token = secret
        return (
            ("GW_SERVER_URL", self.server_url),
            ("GW_TOKEN_ID", token_id),
            ("GW_TOKEN_SECRET", secret),
        )

    def forget_keeper(self, sb: Sandbox) -> None:
        self._keeper_tokens.pop(sb.keeper_token or "", None)
        self._keeper_volumes.pop("sbv-" + sb.id, None)
