"""``cidr_allowlist``: a sandbox's outbound traffic restricted to given networks, by nftables
rules in the sandbox's own network namespace.

The rules are loaded from the host (``nsenter`` into the namespace, then ``nft``) after
bubblewrap has made the namespace and before the sandbox's network stack starts, so no packet
leaves before they hold and no command of the sandbox has run yet. Inside, everything runs as an
unprivileged user with no capabilities, so nothing there can change them. Every packet leaving
through the sandbox's interface must go to an allowed network, unless it answers a connection
made to the sandbox (its declared ports); loopback stays free. DNS is not
let through on its own: add the resolver (slirp4netns's, ``10.0.2.3/32``) to the list to resolve
names, knowing that queries can carry data out.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
from collections.abc import Sequence

from .launch import LaunchError

TABLE = "gworker_sandbox"
NFT_INSTALL = (
    "nftables is not installed; cidr_allowlist needs it: install it with"
    " `apt-get install nftables` (or `./scripts/install-system-deps nftables`)"
)


def networks(allowlist: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The allowlist parsed (host bits allowed and cleared); ValueError names a bad entry."""
    out = []
    for entry in allowlist:
        try:
            out.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"cidr_allowlist entry {entry!r} is not a network like '10.0.0.0/8' or '1.2.3.4/32'"
            ) from None
    return out


def ruleset(allowlist: Sequence[str]) -> str:
    """The nftables ruleset for one sandbox's namespace."""
    nets = networks(allowlist)
    v4 = ", ".join(str(n) for n in nets if n.version == 4)
    v6 = ", ".join(str(n) for n in nets if n.version == 6)
    lines = [
        f"table inet {TABLE} {{",
        "  chain output {",
        "    type filter hook output priority 0; policy drop;",
        '    oifname "lo" accept',
        # answers on connections made to it (its declared ports, forwarded in): never a new
        # connection out, which must pass the list below
        "    ct state established,related accept",
    ]
    if v4:
        lines.append(f"    ip daddr {{ {v4} }} accept")
    if v6:
        lines.append(f"    ip6 daddr {{ {v6} }} accept")
    # a refused connection fails at once (as a firewall's reject does) instead of hanging
    lines += ["    meta l4proto tcp reject with tcp reset", "    reject", "  }", "}", ""]
    return "\n".join(lines)


async def apply(child_pid: int, allowlist: Sequence[str]) -> None:
    """Load the rules into the namespace of the sandbox whose first process is ``child_pid``."""
    nft, nsenter = shutil.which("nft"), shutil.which("nsenter")
    if nft is None:
        raise LaunchError(NFT_INSTALL)
    if nsenter is None:
        raise LaunchError("nsenter (util-linux) is not installed; cidr_allowlist needs it")
    await load_rules(
        nsenter,
        nft,
        child_pid,
        ruleset(allowlist),
        "the sandbox's cidr_allowlist could not be set up (nft)",
    )


async def load_rules(
    nsenter: str, nft: str, pid: int, rules: str, failure: str, before: str | None = None
) -> None:
    """Load nftables ``rules`` into the network namespace of process ``pid``; ``before``: a
    shell command run in that namespace first. A LaunchError that starts with ``failure`` if
    they do not load."""
    argv = [nsenter, f"--net=/proc/{pid}/ns/net"]
    argv += ["/bin/sh", "-c", f"{before} && exec {nft} -f -"] if before else [nft, "-f", "-"]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate(rules.encode())
    if proc.returncode != 0:
        raise LaunchError(f"{failure}: {err.decode()}")
