"""Who may do what: the role each API route requires, in one table.

Roles are ordered (``viewer`` < ``developer`` < ``admin``): each may do what the ones before it
may. Viewers read; developers also run, deploy and change named objects; admins also manage
secrets, tokens and environments. A route not listed needs ``viewer`` for GET and ``developer``
for anything else. The first rule matching a request's method and path decides. A container
acts as a developer, further confined to its own app and environment (``scope.py``).
"""

from __future__ import annotations

import re

from ..store.identities import ROLES

VIEWER, DEVELOPER, ADMIN = ROLES
CONTAINER_ROLE = DEVELOPER

_ID = r"[^/]+"
RULES: list[tuple[str, str, str]] = [
    # tokens and the audit log
    ("*", r"/v1/tokens(/.*)?", ADMIN),
    ("GET", r"/v1/audit", ADMIN),
    # named secrets: create, replace, delete (using one in an app is a developer's)
    ("POST", r"/v1/secrets", ADMIN),
    ("POST", r"/v1/secrets/delete", ADMIN),
    ("POST", rf"/v1/secrets/{_ID}/delete", ADMIN),
    # environments
    ("POST", r"/v1/environments(/.*)?", ADMIN),
    ("DELETE", r"/v1/environments(/.*)?", ADMIN),
    # reads that take a body
    ("POST", r"/v1/apps/lookup", VIEWER),
    ("POST", rf"/v1/dicts/{_ID}/(contains|get|scan)", VIEWER),
    ("POST", rf"/v1/queues/{_ID}/peek", VIEWER),
    ("POST", rf"/v1/volumes/{_ID}/(listdir|stat|check_absent|blobs/(get|read|missing))", VIEWER),
    ("POST", rf"/v1/nfs/{_ID}/(read|listdir)", VIEWER),
]
_COMPILED = [(method, re.compile(pattern + "$"), role) for method, pattern, role in RULES]


def required(method: str, path: str) -> str:
    """The least role that may send ``method path``."""
    for rule_method, pattern, role in _COMPILED:
        if rule_method in ("*", method) and pattern.match(path):
            return role
    return VIEWER if method in ("GET", "HEAD", "OPTIONS") else DEVELOPER


def allows(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def mutating(method: str, path: str) -> bool:
    """Whether a request may change state (and so goes into the audit log)."""
    return required(method, path) != VIEWER
