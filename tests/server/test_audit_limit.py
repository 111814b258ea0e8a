"""How many refused requests a minute the audit log records (``server/audit.py``)."""

from __future__ import annotations

from gworker.server import audit
from gworker.server.audit import RefusalLimit


def test_one_address_is_bounded_and_the_rest_are_counted() -> None:
    limit = RefusalLimit()
    now = limit.window_start
    admitted = [limit.admit("10.0.0.1") for _ in range(audit.REFUSALS_PER_ADDRESS + 40)]
    assert admitted.count(True) == audit.REFUSALS_PER_ADDRESS
    assert limit.admit("10.0.0.2")  # another address still gets in
    assert limit.turn(now + 1) is None  # the minute is not over
    dropped = limit.turn(now + 61)
    assert dropped == {"10.0.0.1": 40}
    assert limit.admit("10.0.0.1")  # a new minute


def test_all_addresses_together_are_bounded() -> None:
    limit = RefusalLimit()
    now = limit.window_start
    admitted = sum(limit.admit(f"10.0.{i // 250}.{i % 250}") for i in range(2000))
    assert admitted == audit.REFUSALS_PER_MINUTE
    assert sum((limit.turn(now + 61) or {}).values()) == 2000 - audit.REFUSALS_PER_MINUTE


def test_a_presented_token_id_never_carries_a_secret() -> None:
    class Req:
        def __init__(self, header: str) -> None:
            self.headers = {"Authorization": header}

    assert audit.presented_token(Req("Bearer tk-1:secret")) == "tk-1"  # type: ignore[arg-type]
    assert audit.presented_token(Req("Bearer just-a-secret")) == ""  # type: ignore[arg-type]
    assert len(audit.presented_token(Req("Bearer " + "x" * 500 + ":s"))) == 64  # type: ignore[arg-type]


def test_refusals_past_the_limit_leave_one_entry_that_counts_them() -> None:
    from types import SimpleNamespace

    from aiohttp.test_utils import make_mocked_request

    from gworker.store import Store

    store = Store.in_memory()
    state = SimpleNamespace(store=store, scheduler=SimpleNamespace(commit_soon=lambda: None))
    log = audit.AuditLog(state)  # type: ignore[arg-type]
    for _ in range(audit.REFUSALS_PER_ADDRESS + 5):
        request = make_mocked_request(
            "GET", "/v1/apps", headers={"Authorization": "Bearer tk-guess:s3cret"}
        )
        log(request, 401)
    rows = store.audit(refused=True)
    assert len(rows) == audit.REFUSALS_PER_ADDRESS
    assert {(r.token_id, r.path, r.status, r.who) for r in rows} == {
        ("tk-guess", "/v1/apps", 401, "-")
    }
    log.tick(log.limit.window_start + 61)
    note = store.audit(after=rows[-1].seq, refused=True)
    assert len(note) == 1 and note[0].status == 429 and "5 refused requests" in note[0].path
    assert not any("s3cret" in str(r) for r in store.audit(refused=True))
    store.close()
