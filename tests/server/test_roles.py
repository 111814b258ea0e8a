"""The role table (server/roles.py): which role each kind of route needs."""

from __future__ import annotations

import pytest

from gworker.server import roles


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/v1/apps", "viewer"),
        ("GET", "/v1/dicts", "viewer"),
        ("POST", "/v1/dicts/di-00000000000000000000/get", "viewer"),
        ("POST", "/v1/queues/qu-00000000000000000000/peek", "viewer"),
        ("POST", "/v1/volumes/vo-00000000000000000000/listdir", "viewer"),
        ("POST", "/v1/dicts/di-00000000000000000000/put", "developer"),
        ("POST", "/v1/queues/qu-00000000000000000000/get", "developer"),
        ("POST", "/v1/functions/fu-1/calls", "developer"),
        ("POST", "/v1/apps/ap-1/publish", "developer"),
        ("POST", "/v1/secrets/inline", "developer"),
        ("POST", "/v1/secrets/lookup", "developer"),
        ("POST", "/v1/secrets", "admin"),
        ("POST", "/v1/secrets/delete", "admin"),
        ("POST", "/v1/secrets/sc-00000000000000000000/delete", "admin"),
        ("POST", "/v1/tokens", "admin"),
        ("GET", "/v1/tokens", "admin"),
        ("POST", "/v1/tokens/tk-1/revoke", "admin"),
        ("POST", "/v1/tokens/proxy", "admin"),
        ("GET", "/v1/audit", "admin"),
        ("POST", "/v1/environments", "admin"),
    ],
)
def test_required_role(method: str, path: str, role: str) -> None:
    assert roles.required(method, path) == role
    assert roles.mutating(method, path) == (role != "viewer")


def test_roles_are_ordered() -> None:
    assert roles.allows("admin", "developer") and roles.allows("developer", "viewer")
    assert not roles.allows("viewer", "developer") and not roles.allows("developer", "admin")
    assert not roles.allows("nobody", "viewer")
