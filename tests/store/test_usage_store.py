"""Usage records in the store: survive a restart, compact into per-minute rows after a day
without changing any total, filter by app and environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from gworker.store import Store
from gworker.store.usage import UsageSample, UsageSubject

DAY = 86400.0
T = 1_700_000_000.0  # a minute boundary: 1_700_000_000 % 60 == 20, so use T - 20 below


def _subject(cid: str, app: str = "a", env: str = "main") -> UsageSubject:
    return UsageSubject(cid, "ap-" + app, app, env, "f", "tk-1", 1.0, 1024, "T4", 1)


def _fill(store: Store, cid: str, start: float, seconds: int) -> None:
    store.add_usage_samples(
        [UsageSample(cid, start + i, 1.0, 0.5, 100.0 + i) for i in range(seconds)]
    )


def test_records_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.set_app_token("ap-a", "tk-1")
    store.add_usage_subject(_subject("ct-1"))
    _fill(store, "ct-1", T, 5)
    store.commit()
    store.close()
    again = Store(tmp_path / "state.db")
    (total,) = again.usage_totals(T, T + 60, 60)
    assert total.seconds == 5 and total.cpu_used == 2.5 and total.memory_peak_mib == 104
    assert again.app_token("ap-a") == "tk-1"
    again.close()


def test_compaction_rolls_seconds_into_minutes_keeping_totals() -> None:
    store = Store.in_memory()
    store.add_usage_subject(_subject("ct-1"))
    old = T - 20 - 2 * DAY  # a minute boundary two days ago
    _fill(store, "ct-1", old, 150)  # two and a half minutes of seconds
    _fill(store, "ct-1", T - 20, 30)  # recent: stays per second
    before = store.usage_totals(0, 2e9, 86400)
    assert store.usage_sample_rows() == {1: 180}
    removed = store.compact_usage(T - DAY)
    assert removed == 150
    assert store.usage_sample_rows() == {1: 30, 60: 3}
    after = store.usage_totals(0, 2e9, 86400)
    assert [(t.seconds, t.cpu_used, t.cpu_billed, t.memory_peak_mib) for t in after] == [
        (t.seconds, t.cpu_used, t.cpu_billed, t.memory_peak_mib) for t in before
    ]
    assert store.compact_usage(T - DAY) == 0  # nothing more to roll up
    store.close()


@pytest.mark.parametrize(
    ("app", "env", "containers"), [(None, None, 3), ("a", None, 2), ("a", "dev", 1), (None, "x", 0)]
)
def test_totals_filter_by_app_and_environment(
    app: str | None, env: str | None, containers: int
) -> None:
    store = Store.in_memory()
    for cid, a, e in (("ct-1", "a", "main"), ("ct-2", "a", "dev"), ("ct-3", "b", "main")):
        store.add_usage_subject(_subject(cid, a, e))
        _fill(store, cid, T, 2)
    totals = store.usage_totals(T, T + 10, 60, app_name=app, environment=env)
    assert len({t.subject.container_id for t in totals}) == containers
    store.close()


def test_renaming_an_environment_moves_its_usage_history() -> None:
    store = Store.in_memory()
    store.add_environment("dev", "dev")
    store.add_usage_subject(_subject("ct-1", "a", "dev"))
    _fill(store, "ct-1", T, 2)
    store.rename_environment("dev", "qa")
    assert [t.subject.environment for t in store.usage_totals(T, T + 10, 60)] == ["qa"]
    assert store.usage_totals(T, T + 10, 60, environment="dev") == []
    store.close()
