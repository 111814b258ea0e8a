"""Dashboard sign-in: link tokens work once and expire; sessions expire; user tokens work as in
the CLI."""

from __future__ import annotations

from gworker.dashboard.auth import LINK_TTL_S, SESSION_TTL_S, DashboardAuth
from gworker.server.http import hash_secret
from gworker.store.identities import Token


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_link_is_spent_by_its_first_use_and_gives_a_session() -> None:
    auth = DashboardAuth({"tk-ada": _token("s3cret")}, Clock())
    link, _ = auth.new_link("tk-ada")
    granted = auth.redeem(link)
    assert granted is not None
    assert auth.identify(f"Bearer {granted[0]}") == "tk-ada"
    assert auth.redeem(link) is None


def test_links_and_sessions_expire() -> None:
    clock = Clock()
    auth = DashboardAuth({"tk-ada": _token("s3cret")}, clock)
    late, _ = auth.new_link("tk-ada")
    clock.now += LINK_TTL_S + 1
    assert auth.redeem(late) is None
    link, _ = auth.new_link("tk-ada")
    session, _ = auth.redeem(link) or ("", 0)
    clock.now += SESSION_TTL_S + 1
    assert auth.identify(f"Bearer {session}") is None


def test_user_tokens_are_checked_like_the_cli_and_forgeries_are_not() -> None:
    auth = DashboardAuth({"tk-ada": _token("s3cret")}, Clock())
    assert auth.identify("Bearer tk-ada:s3cret") == "tk-ada"
    assert auth.identify("Bearer tk-ada:wrong") is None
    link, _ = auth.new_link("tk-ada")
    assert auth.identify(f"Bearer {link}") is None  # a link is not a session
    assert auth.identify("tk-ada:s3cret") is None


def test_a_revoked_token_and_its_sessions_are_refused() -> None:
    tokens = {"tk-ada": _token("s3cret")}
    auth = DashboardAuth(tokens, Clock())
    link, _ = auth.new_link("tk-ada")
    session, _ = auth.redeem(link) or ("", 0)
    assert auth.identify(f"Bearer {session}") == "tk-ada"
    tokens["tk-ada"] = tokens["tk-ada"]._replace(revoked=True)
    assert auth.identify("Bearer tk-ada:s3cret") is None
    assert auth.identify(f"Bearer {session}") is None


def _token(secret: str) -> Token:
    return Token(hash_secret(secret), user="ada", role="viewer", created_at=0.0, revoked=False)
