"""``Tunnel``: how to reach a port a sandbox declared (Modal's ``modal.Tunnel``)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .exception import InvalidError


@dataclass(frozen=True)
class Tunnel:
    """A sandbox's port, reached through the control plane's gateway at ``url`` (requests to
    ``url + "/any/path"`` arrive at the port as ``/any/path``), and for an
    ``unencrypted_ports`` entry also as raw TCP at ``tcp_socket``. The scheme is the control
    plane's: put it behind TLS to make the URL https."""

    host: str
    port: int
    url: str
    unencrypted_host: str | None = None
    unencrypted_port: int | None = None

    @classmethod
    def _from_info(cls, server_url: str, info: dict[str, object]) -> Tunnel:
        parts = urlsplit(server_url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        tcp = info.get("tcp_port")
        return cls(
            host=host,
            port=port,
            url=server_url.rstrip("/") + str(info["path"]),
            unencrypted_host=host if tcp is not None else None,
            unencrypted_port=int(str(tcp)) if tcp is not None else None,
        )

    @property
    def tls_socket(self) -> tuple[str, int]:
        """``(host, port)`` of the gateway that serves ``url``."""
        return self.host, self.port

    @property
    def tcp_socket(self) -> tuple[str, int]:
        """``(host, port)`` for raw TCP to the sandbox's port (``unencrypted_ports`` only)."""
        if self.unencrypted_host is None or self.unencrypted_port is None:
            raise InvalidError(
                "this port was declared in encrypted_ports, which are served by URL only;"
                " declare it in unencrypted_ports for raw TCP"
            )
        return self.unencrypted_host, self.unencrypted_port
