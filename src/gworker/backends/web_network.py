"""The network of a function container that serves on a port it chose (``@web_server(port)``,
``@app.server(port=...)``, ``modal.experimental.http_server``): a namespace of its own, so every
replica of every app listens on its port independently, as each Modal container does.

The pieces are the sandboxes': ``launch.plan(own_network=True)`` unshares the namespace in the
child (``isolation.own_network_in_child``) and binds the control plane's unix sockets in, since
the host's loopback is out of reach; here, once the process exists, ``slirp4netns`` gives the
namespace outbound traffic (``sandbox.SlirpNetwork``: ``--disable-host-loopback``, DNS through
the host's resolver) and forwards a free port of the host's loopback to each of the container's
ports (``sandbox_ports.add_forward``). The backend reports those host ports as the container's
``Placement.forwards`` and the control plane translates the ports the container reports through
them, so the gateway proxies to ``127.0.0.1:<host port>`` as before, unchanged.

slirp4netns delivers a forwarded connection to the namespace's own address (10.0.2.100), where a
server bound to ``127.0.0.1`` (as many examples bind) would never see it: an nftables rule in the
namespace rewrites the destination of connections arriving on the tap device for those ports to
127.0.0.1 (``route_localnet`` lets the kernel route them there), so ``0.0.0.0``, ``::`` and
``127.0.0.1`` all serve. Nothing inside can change the rule: the container's bounding set has no
``CAP_NET_ADMIN``.

A container reaches the host only through slirp4netns's user-mode stack, which refuses the
host's loopback: not the gateway's other upstreams (other containers' forwarded ports), not the
control plane's TCP port; its API and channel are the unix sockets.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from .launch import LaunchError
from .sandbox import SlirpNetwork
from .sandbox_firewall import load_rules
from .sandbox_ports import ForwardError

TABLE = "gworker_web"
TAP = "tap0"  # slirp4netns's device in the namespace
HOST_ADDR = "127.0.0.1"  # where forwards listen: only the gateway (on this host) uses them


def ruleset(ports: Sequence[int]) -> str:
    """Connections forwarded in to ``ports`` go to the namespace's loopback."""
    listed = ", ".join(str(p) for p in sorted(set(ports)))
    return "\n".join(
        [
            f"table ip {TABLE} {{",
            "  chain prerouting {",
            "    type nat hook prerouting priority -100; policy accept;",
            f'    iifname "{TAP}" tcp dport {{ {listed} }} dnat to 127.0.0.1',
            "  }",
            "}",
            "",
        ]
    )


def check_tools() -> tuple[str, str, str]:
    """slirp4netns, nft and nsenter, or a LaunchError naming what to install."""
    slirp, nft, nsenter = shutil.which("slirp4netns"), shutil.which("nft"), shutil.which("nsenter")
    for tool, path, package in (
        ("slirp4netns", slirp, "slirp4netns"),
        ("nft", nft, "nftables"),
        ("nsenter", nsenter, "util-linux"),
    ):
        if path is None:
            raise LaunchError(
                f"{tool} is not installed; a container serving on its own port (@web_server,"
                f" @app.server) runs in a network of its own, which needs it: install it with"
                f" `apt-get install {package}` (or `./scripts/install-system-deps {package}`)"
            )
    assert slirp and nft and nsenter
    return slirp, nft, nsenter


class WebNetwork:
    """One container's slirp4netns and its forwards: ``forwards`` maps each of the container's
    ports to the host loopback port that reaches it."""

    def __init__(self, net: SlirpNetwork) -> None:
        self._net = net
        self.forwards: dict[int, int] = {}

    @classmethod
    async def start(cls, pid: int, ports: Sequence[int]) -> WebNetwork:
        """Set up the network of the namespace process ``pid`` is in, with ``ports`` forwarded.
        Every failure is a LaunchError (nothing is left running)."""
        slirp, nft, nsenter = check_tools()
        # the loopback rewrite and route_localnet, before the network comes up (/proc/sys/net
        # is the writer's namespace's, hence the shell inside)
        await load_rules(
            nsenter,
            nft,
            pid,
            ruleset(ports),
            "the web server container's port forwarding could not be set up",
            before="echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet",
        )
        self = cls(await SlirpNetwork.start(slirp, pid, who="the web server container"))
        try:
            for port in ports:
                self.forwards[port] = await self._net.forward(port, HOST_ADDR)
        except BaseException as e:
            await self.close()
            if isinstance(e, ForwardError):
                raise LaunchError(str(e)) from None
            raise
        return self

    async def close(self) -> None:
        """End slirp4netns (its container has exited, or never started) and its socket."""
        await self._net.close()
