"""Proxy-auth tokens: what a request to a ``requires_proxy_auth=True`` endpoint must carry.

They are separate from API tokens (``gw token new``), as in Modal: a proxy-auth token opens web
endpoints only, and an API token opens no web endpoint. ``gw token new --proxy`` creates one; a
request presents it as ``Modal-Key``/``Modal-Secret`` headers (or ``Gworker-Key``/
``Gworker-Secret``). Only the sha256 of the secret is stored.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Mapping

from ..store import Store
from .http import hash_secret

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS proxy_tokens"
    " (id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, created_at REAL NOT NULL)"
)
KEY_HEADERS = ("Modal-Key", "Gworker-Key")
SECRET_HEADERS = ("Modal-Secret", "Gworker-Secret")
HINT = (
    "this endpoint requires proxy auth: send the Modal-Key and Modal-Secret headers (or"
    " Gworker-Key and Gworker-Secret) of a token from `gw token new --proxy`"
)


def presented_key(headers: Mapping[str, str]) -> str:
    """The proxy-auth token id a request presents ("" if none)."""
    return next((headers[h] for h in KEY_HEADERS if h in headers), "")


class ProxyTokens:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.db.execute(SCHEMA)  # one statement, inside the store's open transaction
        self.hashes: dict[str, str] = dict(
            store.db.execute("SELECT id, secret_hash FROM proxy_tokens")
        )

    def create(self) -> tuple[str, str]:
        token_id, secret = "wk-" + secrets.token_hex(8), "ws-" + secrets.token_urlsafe(32)
        digest = hash_secret(secret)
        self.store.db.execute(
            "INSERT INTO proxy_tokens VALUES (?, ?, ?)", (token_id, digest, time.time())
        )
        self.store.commit()
        self.hashes[token_id] = digest
        return token_id, secret

    def allows(self, headers: Mapping[str, str]) -> bool:
        """Whether the request's headers carry a valid proxy-auth token."""
        key = presented_key(headers)
        secret = next((headers[h] for h in SECRET_HEADERS if h in headers), None)
        if not key or not secret:
            return False
        expected = self.hashes.get(key)
        return expected is not None and hmac.compare_digest(expected, hash_secret(secret))
