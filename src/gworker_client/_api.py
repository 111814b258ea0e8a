"""The only module that speaks HTTP: a small keep-alive msgpack client for the control plane.

Policy (auth, retries across a server restart, error mapping) lives here; the transport is
``_http.Connection``, one persistent connection per thread, because a warm call's latency is
dominated by per-request overhead.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgpack

from . import _config, _http
from . import exception as exc

_STATUS_ERRORS: dict[int, type[exc.Error]] = {
    400: exc.InvalidError,
    401: exc.AuthError,
    403: exc.AuthError,
    404: exc.NotFoundError,
    409: exc.AlreadyExistsError,
    410: exc.OutputExpiredError,
}
_ERROR_TYPES: dict[str, type[exc.Error]] = {
    cls.__name__: cls
    for cls in (
        exc.InvalidError,
        exc.NotFoundError,
        exc.AlreadyExistsError,
        exc.AuthError,
        exc.ExecutionError,
        exc.OutputExpiredError,
        exc.TimeoutError,
    )
}


class Client:
    """A handle on one control plane: its URL and the credentials to present."""

    def __init__(
        self, url: str, credentials: _config.Credentials | None, unix_socket: str | None = None
    ) -> None:
        """``unix_socket``: connect there instead of to the URL's host and port (which the
        requests still name): a container without a network reaches its control plane so."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise exc.InvalidError(
                f"GW_SERVER_URL={url!r} is not a valid URL; expected e.g. http://127.0.0.1:7411"
            )
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._credentials = credentials
        self._unix_socket = unix_socket
        self._local = threading.local()
        self._reached = False
        self._tls = ssl.create_default_context() if self._https else None
        # the headers every request carries, encoded once
        headers = f"Host: {parts.netloc}\r\nContent-Type: application/msgpack\r\n"
        if credentials:
            headers += f"Authorization: {credentials.header}\r\n"
        self._headers = headers

    # -- transport ---------------------------------------------------------------------------

    def _connection(self) -> _http.Connection:
        conn: _http.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _http.Connection(self._host, self._port, self._tls, self._unix_socket)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()

    def _send(
        self, method: str, path: str, body: bytes | None, timeout: float
    ) -> tuple[int, bytes]:
        length = len(body) if body is not None else 0
        head = f"{method} {path} HTTP/1.1\r\n{self._headers}Content-Length: {length}\r\n\r\n"
        raw = head.encode("latin-1")
        conn = self._connection()
        try:
            return conn.exchange(raw, body, timeout)
        except ConnectionError:  # reset or closed, not a timeout
            if not conn.reused:
                raise
        # the server closed this idle keep-alive connection before reading the request: send it
        # again at once on a new connection
        conn.close()
        return conn.exchange(raw, body, timeout)

    # -- policy --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float = 60.0,
        idempotent: bool = True,
    ) -> Any:
        """Send one request; retry connection failures while a known server restarts.

        Only idempotent requests are retried (every mutating route takes a client-chosen id, so
        nearly all are). A server never reached fails at once with a message naming its URL.
        """
        data = None if body is None else msgpack.packb(body, use_bin_type=True)
        deadline = time.monotonic() + _config.reconnect_timeout()
        delay = 0.05
        while True:
            try:
                status, raw = self._send(method, path, data, timeout)
                if status == 503 and idempotent and time.monotonic() < deadline:
                    # the server is stopping (a restart): wait for it as for a lost connection
                    self._reached = True
                    raise ConnectionRefusedError("the server is stopping")
                break
            except OSError as e:
                self._drop_connection()
                if not self._reached:
                    raise exc.ConnectionError(
                        f"cannot reach the gworker server at {self.url} ({e}). Check GW_SERVER_URL,"
                        " or unset it to use the local server (`gw server start`)."
                    ) from None
                if not idempotent or time.monotonic() > deadline:
                    raise exc.ConnectionError(
                        f"lost the connection to the gworker server at {self.url} ({e}) and it did"
                        f" not come back within {_config.reconnect_timeout():.0f}s;"
                        " see `gw server status`."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        self._reached = True
        payload = msgpack.unpackb(raw, raw=False) if raw else None
        if status >= 400:
            raise self._error(status, payload)
        return payload

    def _error(self, status: int, payload: Any) -> exc.Error:
        err = payload.get("error", {}) if isinstance(payload, dict) else {}
        message = err.get("message") or f"HTTP {status}"
        cls = _ERROR_TYPES.get(err.get("type", "")) or _STATUS_ERRORS.get(status, exc.Error)
        return cls(message)

    def ensure_blob(
        self, digest: str, data: bytes | Callable[[], bytes], payload: bool = False
    ) -> None:
        """Upload a content-addressed blob unless the server has it (``data`` may be a
        function, called only when the upload is needed). A ``payload`` (a large argument or
        result) is deleted by the server once nothing refers to it; other blobs are kept."""
        query = "?payload=1" if payload else ""
        if self.get(f"/v1/blobs/{digest}/exists{query}")["exists"]:
            return
        value = data() if callable(data) else data
        self.request("PUT", f"/v1/blobs/{digest}{query}", value, timeout=600)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body if body is not None else {}, **kw)


_client: Client | None = None
_client_lock = threading.Lock()


def client() -> Client:
    """The process's client: from ``GW_SERVER_URL`` or, when unset, the local server."""
    global _client
    with _client_lock:
        if _client is None:
            _client = _make_client()
        return _client


def lookup_function(app_name: str, name: str, environment_name: str | None) -> Any:
    """A deployed function's or class's id and spec (``Function``/``Cls``/``Server.from_name``);
    names are quoted, so ``&``, ``#`` or spaces in them reach the server as they are."""
    env = environment_name or _config.environment()
    query = urlencode({"app": app_name, "name": name, "env": env})
    return client().get(f"/v1/functions/lookup?{query}")


def resolve_app(ref: str) -> Any:
    """The app ``ref`` names: an id (in whatever environment it is, unless an environment was
    asked for, ``--env``/``GW_ENVIRONMENT``, which must then be its own), or the newest app of
    that name in the environment."""
    query = {"ref": ref}
    if os.environ.get("GW_ENVIRONMENT"):  # asked for: the server holds an id to it
        query["env"] = _config.environment()
    return client().get(f"/v1/apps/resolve?{urlencode(query)}")


def reset_client() -> None:
    global _client
    with _client_lock:
        _client = None


def _make_client() -> Client:
    url = os.environ.get("GW_SERVER_URL")
    if url:
        credentials = _config.credentials_from_env() or _config.credentials_from_file()
        return Client(url, credentials, os.environ.get("GW_SERVER_SOCKET") or None)
    from gworker.daemon import ensure_local_server  # the server ships in the same distribution

    url = ensure_local_server(_config.gw_home())
    return Client(url, _config.credentials_from_env() or _config.credentials_from_file())
