"""Who may read the dashboard: the same user tokens as the CLI, and short-lived sessions.

``gw dashboard --url`` asks the API (as the CLI's user) for a one-time *link token* that lives
``LINK_TTL_S``; the URL carries it in its fragment (never sent to a server or logged), and the page
trades it for a *session* (``SESSION_TTL_S``) that authenticates every API call it makes as a
Bearer token, as Jupyter's token links do. Without a link the page asks for a user token
(``token_id:secret``), checked exactly as the CLI's is. Sessions live in the server's memory: a
restarted server asks for a new link.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..server.http import hash_secret
from ..store.identities import Token

LINK_TTL_S = 120.0
SESSION_TTL_S = 12 * 3600.0


@dataclass(frozen=True)
class Grant:
    token_id: str  # the user token it was made for
    secret_hash: str
    expires_at: float


class DashboardAuth:
    def __init__(
        self, user_tokens: dict[str, Token], clock: Callable[[], float] = time.time
    ) -> None:
        self.user_tokens = user_tokens  # token id -> its record (the server's own table)
        self._links: dict[str, Grant] = {}
        self._sessions: dict[str, Grant] = {}
        self._clock = clock

    def _grant(self, table: dict[str, Grant], prefix: str, token_id: str, ttl: float) -> str:
        self._expire(table)
        gid, secret = prefix + secrets.token_hex(8), secrets.token_urlsafe(24)
        table[gid] = Grant(token_id, hash_secret(secret), self._clock() + ttl)
        return f"{gid}:{secret}"

    def _expire(self, table: dict[str, Grant]) -> None:
        now = self._clock()
        for gid in [g for g, grant in table.items() if grant.expires_at <= now]:
            del table[gid]

    def new_link(self, token_id: str) -> tuple[str, float]:
        """A one-time link token for the user token ``token_id``, and when it expires."""
        link = self._grant(self._links, "dl-", token_id, LINK_TTL_S)
        return link, self._links[link.split(":")[0]].expires_at

    def redeem(self, link: str) -> tuple[str, float] | None:
        """A session for a valid, unused link (which is spent); None otherwise."""
        grant = self._check(self._links, link)
        if grant is None:
            return None
        del self._links[link.split(":")[0]]
        session = self._grant(self._sessions, "ds-", grant.token_id, SESSION_TTL_S)
        return session, self._sessions[session.split(":")[0]].expires_at

    def _check(self, table: dict[str, Grant], value: str) -> Grant | None:
        gid, _, secret = value.partition(":")
        grant = table.get(gid)
        if grant is None or grant.expires_at <= self._clock():
            return None
        return grant if hmac.compare_digest(grant.secret_hash, hash_secret(secret)) else None

    def identify(self, authorization: str) -> str | None:
        """The user token id behind an ``Authorization: Bearer`` header (a user token or a
        session), or None."""
        if not authorization.startswith("Bearer "):
            return None
        value = authorization[7:]
        token_id, _, secret = value.partition(":")
        token = self.user_tokens.get(token_id)
        if token is not None and hmac.compare_digest(token.secret_hash, hash_secret(secret)):
            return None if token.revoked else token_id
        grant = self._check(self._sessions, value)
        if grant is None:
            return None
        owner = self.user_tokens.get(grant.token_id)
        return grant.token_id if owner is not None and not owner.revoked else None
