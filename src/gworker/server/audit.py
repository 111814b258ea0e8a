"""The audit log: every mutating request, and every request refused for its token, role or scope.

The auth middleware (``http.py``) hands each such request here with its status, and the
gateway each web request its proxy auth refused (``gateway.py``). An entry says
who (the token's user, or the container), their role, the token id presented (never a secret),
the address the request came from, the method and path, the status and the time.

Refusals (401, 403) come from anyone who can reach the port, so they are bounded twice: at most
``REFUSALS_PER_ADDRESS`` entries a minute from one address and ``REFUSALS_PER_MINUTE`` in all
(the rest are counted, and one entry per minute says how many were left out and from where),
and only the newest ``REFUSALS_KEEP`` refusals are kept, apart from the ``AUDIT_KEEP`` newest
entries of any kind.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import Counter

from aiohttp import web

from ..store.identities import LEFT_OUT, REFUSED
from .http import query_int, reply
from .state import State

routes = web.RouteTableDef()
log = logging.getLogger("gworker.server")

# The audit log keeps the newest AUDIT_KEEP entries (checked every AUDIT_PRUNE_EVERY new ones),
# of which at most REFUSALS_KEEP refusals.
AUDIT_KEEP = 1_000_000
REFUSALS_KEEP = 100_000
AUDIT_PRUNE_EVERY = 10_000
REFUSALS_PER_MINUTE = 600
REFUSALS_PER_ADDRESS = 60
_WINDOW_S = 60.0
_MAX_ADDRESSES = 10_000  # distinct addresses counted per window; past it, all count as one


def presented_token(request: web.Request) -> str:
    """The id of the token a request presents (``Bearer <id>:<secret>``), at most 64
    printable characters; "" when there is none (a bare secret is never taken for an id)."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or ":" not in header:
        return ""
    return _printable(header[7:].partition(":")[0])


def _printable(token_id: str) -> str:
    """At most 64 printable characters of what a request presented as a token id."""
    token_id = token_id[:64]
    return token_id if token_id.isprintable() else repr(token_id)[:64]


class RefusalLimit:
    """How many refusals a minute are recorded, in all and per address."""

    def __init__(self) -> None:
        self.window_start = time.monotonic()
        self.total = 0
        self.by_address: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()

    def admit(self, address: str) -> bool:
        if len(self.by_address) >= _MAX_ADDRESSES and address not in self.by_address:
            address = "(many addresses)"
        self.by_address[address] += 1
        if self.total >= REFUSALS_PER_MINUTE or self.by_address[address] > REFUSALS_PER_ADDRESS:
            self.dropped[address] += 1
            return False
        self.total += 1
        return True

    def turn(self, now: float) -> Counter[str] | None:
        """At the end of a window: start a new one; return what it left out, if anything."""
        if now - self.window_start < _WINDOW_S:
            return None
        dropped = self.dropped
        self.window_start, self.total = now, 0
        self.by_address, self.dropped = Counter(), Counter()
        return dropped or None


class AuditLog:
    """What the auth middleware calls after each mutating or refused request."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.limit = RefusalLimit()
        self.recorded = 0

    def __call__(self, request: web.Request, status: int, presented: str | None = None) -> None:
        """Record ``request`` answered ``status``; ``presented``: the id of the token it
        presented, where that is not an API token's header (a web endpoint's proxy auth)."""
        identity = request.get("identity")
        refused = status in REFUSED
        own_path = request.path.startswith("/v1/containers/")
        if not refused and identity and identity[0] == "container" and own_path:
            return  # a container's own data path (polls, heartbeats, probes) is not an action
        if refused and not self.limit.admit(request.remote or ""):
            return
        who, role = request.get("who", "-"), request.get("role", "-")
        if identity:
            token_id = identity[1]
        else:
            token_id = _printable(presented) if presented else presented_token(request)
        self._add(who, role, request.method, request.path, status, token_id, request.remote or "")

    def tick(self, now: float) -> None:
        """Called by the scheduler's tick: one entry for the refusals a minute left out."""
        dropped = self.limit.turn(now)
        if dropped:
            top = ", ".join(f"{addr or '?'} x{n}" for addr, n in dropped.most_common(5))
            note = f"{sum(dropped.values())} refused requests not recorded (over the limit): {top}"
            self._add("-", "-", "-", note[:500], LEFT_OUT, "", "")

    def _add(
        self, who: str, role: str, method: str, path: str, status: int, token_id: str, remote: str
    ) -> None:
        store = self.state.store
        row = (who, role, method, path, status, token_id, remote)
        try:
            store.add_audit(*row)
            self.recorded += 1
            if self.recorded % AUDIT_PRUNE_EVERY == 0:
                store.prune_audit(AUDIT_KEEP, REFUSALS_KEEP)
            self.state.scheduler.commit_soon()
        except Exception:  # a full disk: the request's own answer matters more than its entry
            log.exception("could not record the audit entry %s", row)


@routes.get("/v1/audit")
async def audit(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    after = query_int(request, "after")
    limit = min(max(query_int(request, "limit", 1000), 1), 10_000)
    refused = query_int(request, "refused", 0)
    rows = [
        {
            "seq": r.seq,
            "time": datetime.datetime.fromtimestamp(r.ts, datetime.timezone.utc).isoformat(),
            "who": r.who,
            "role": r.role,
            "method": r.method,
            "path": r.path,
            "status": r.status,
            "token_id": r.token_id,
            "remote": r.remote,
        }
        for r in state.store.audit(after, limit, refused=bool(refused))
    ]
    return reply({"entries": rows})
