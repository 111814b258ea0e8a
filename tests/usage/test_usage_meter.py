"""The usage meter and the report over a store in memory, with clocks the test turns: a known
workload whose cost is computed by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from msgspec.structs import replace

from fakes import FakeBackend
from gworker.backends.metering import ResourceSample
from gworker.server.scheduler.state import Container, FunctionState
from gworker.store import Store
from gworker.usage import DEFAULT_PRICES
from gworker.usage.meter import UsageMeter
from gworker.usage.report import summarize
from gworker_client._protocol import FunctionSpec

SPEC = FunctionSpec(
    timeout=60.0,
    cpu=2.0,
    memory=2048,
    min_workers=0,
    max_workers=4,
    buffer_workers=0,
    idle_timeout=60.0,
    image={"version": 1, "layers": []},
)
T0 = 1_700_000_000.0  # the wall clock when the monotonic clock reads 100


class Clocks:
    def __init__(self) -> None:
        self.mono = 100.0

    def wall(self) -> float:
        return T0 + self.mono - 100.0


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store.in_memory()
    s.add_app("ap-1", "trainer", "prod", "deployed")
    s.set_app_token("ap-1", "tk-alice")
    yield s
    s.close()


def _container(cid: str, tag: str, spec: FunctionSpec, gpu: str | None) -> Container:
    fs = FunctionState("fu-" + tag, "ap-1", tag, spec, "m", "blob", True)
    c = Container(cid, fs, "token", started_at=100.0)
    c.gpu = gpu
    fs.containers[cid] = c
    return c


def test_a_known_workload_costs_what_is_computed_by_hand(store: Store) -> None:
    clocks = Clocks()
    backend = FakeBackend()
    gpu = _container("ct-gpu", "train", SPEC, "A100-80GB:0")
    cpu_only = _container("ct-cpu", "prep", replace(SPEC, cpu=0.5, memory=512), None)
    live = {c.id: c for c in (gpu, cpu_only)}
    meter = UsageMeter(store, backend, lambda: list(live.values()), clock=clocks.wall)
    meter._monotonic = lambda: clocks.mono  # type: ignore[method-assign]
    for c in live.values():
        backend.running[c.id] = None  # type: ignore[assignment]

    clocks.mono = 101.0
    backend.usage = {  # under the reservation: the reservation is billed
        "ct-gpu": ResourceSample(cpu_s=1.0, memory_mib=100),
        "ct-cpu": ResourceSample(cpu_s=0.1, memory_mib=600),  # over its 512 MiB
    }
    meter.tick()
    clocks.mono = 102.0
    # 4 cores in 1 s, and 20 GB on its GPU
    backend.usage["ct-gpu"] = ResourceSample(cpu_s=5.0, memory_mib=100, gpu_memory_mib=20_000)
    backend.usage["ct-cpu"] = ResourceSample(cpu_s=0.2, memory_mib=600)
    meter.tick()
    clocks.mono = 102.5
    del live["ct-gpu"], backend.running["ct-gpu"]
    gpu.ready = True
    meter.exited(gpu)  # half a second after the last tick
    store.commit()

    report = summarize(
        store.usage_totals(T0 - 10, T0 + 10, 86400), DEFAULT_PRICES, "function", T0, T0
    )
    rows = {r.function: r for r in report.rows}
    train, prep = rows["train"], rows["prep"]
    # train: 2.5 s; cpu billed 2x1 + max(2x1, 4) + 2x0.5 = 7 core-s; memory 2 GiB x 2.5 s
    assert train.container_seconds == pytest.approx(2.5)
    assert train.cpu_seconds == pytest.approx(7.0)
    assert train.cpu_used_seconds == pytest.approx(5.0)
    assert train.memory_gib_seconds == pytest.approx(5.0)
    assert train.gpu_type == "A100-80GB" and train.gpu_seconds == pytest.approx(2.5)
    assert train.gpu_memory_peak_mib == 20_000  # measured on its device (NVML) once
    assert train.cost_usd == pytest.approx(7 * 0.0000131 + 5 * 0.00000222 + 2.5 * 0.00083)
    # prep: 2 s at 0.5 cores (its use is below that), 600 MiB (above its 512 MiB reservation)
    assert prep.cpu_seconds == pytest.approx(1.0)
    assert prep.memory_gib_seconds == pytest.approx(600 / 1024 * 2)
    assert prep.gpu_type is None and prep.gpu_seconds == 0 and prep.gpu_memory_peak_mib is None
    assert prep.cost_usd == pytest.approx(1.0 * 0.0000131 + 600 / 1024 * 2 * 0.00000222)
    assert report.total_usd == pytest.approx(train.cost_usd + prep.cost_usd)

    by_app = summarize(store.usage_totals(T0 - 10, T0 + 10, 86400), DEFAULT_PRICES, "app", 0, 0)
    (row,) = by_app.rows
    assert (row.app, row.environment, row.function, row.containers) == ("trainer", "prod", None, 2)
    assert row.gpu_type == "A100-80GB"  # the one GPU type among its containers


def test_a_container_shorter_than_a_tick_is_still_counted(store: Store) -> None:
    clocks = Clocks()
    c = _container("ct-short", "quick", SPEC, None)
    meter = UsageMeter(store, FakeBackend(), lambda: [], clock=clocks.wall)
    meter._monotonic = lambda: clocks.mono  # type: ignore[method-assign]
    clocks.mono = 100.4
    c.ready = True
    meter.exited(c)
    (total,) = store.usage_totals(T0 - 10, T0 + 10, 86400)
    assert total.seconds == pytest.approx(0.4)
    assert total.subject.token_id == "tk-alice" and total.subject.app_name == "trainer"


def test_a_container_that_never_ran_costs_nothing(store: Store) -> None:
    meter = UsageMeter(store, FakeBackend(), lambda: [])
    meter.exited(_container("ct-never", "f", SPEC, None))  # failed before its first poll
    assert store.usage_totals(0, 2e9, 86400) == []


def test_a_container_that_exits_while_its_usage_is_read_is_counted_once(store: Store) -> None:
    clocks = Clocks()
    backend = FakeBackend()
    c = _container("ct-race", "f", SPEC, None)
    live = {c.id: c}
    meter = UsageMeter(store, backend, lambda: list(live.values()), clock=clocks.wall)
    meter._monotonic = lambda: clocks.mono  # type: ignore[method-assign]
    backend.running[c.id] = None  # type: ignore[assignment]
    backend.usage[c.id] = ResourceSample(0.1, 10)
    clocks.mono = 101.0
    readings = meter.read(list(live.values()))  # off the loop, in the server
    c.ready = True
    del live[c.id]
    meter.exited(c)  # the exit lands before the readings are recorded
    meter.record(readings, clocks.mono, clocks.wall())
    (total,) = store.usage_totals(T0 - 10, T0 + 10, 86400)
    assert total.seconds == pytest.approx(1.0)


def test_containers_after_a_rename_are_recorded_under_the_new_name(store: Store) -> None:
    clocks = Clocks()
    backend = FakeBackend()
    live: dict[str, Container] = {}
    meter = UsageMeter(store, backend, lambda: list(live.values()), clock=clocks.wall)
    meter._monotonic = lambda: clocks.mono  # type: ignore[method-assign]
    for n in range(2):
        if n:
            store.rename_environment("prod", "production")
        c = _container(f"ct-{n}", "train", SPEC, None)
        live[c.id], backend.running[c.id] = c, None  # type: ignore[assignment]
        backend.usage[c.id] = ResourceSample(cpu_s=0.1, memory_mib=10)
        clocks.mono += 1
        meter.tick()
    store.commit()
    envs = {t.subject.environment for t in store.usage_totals(T0 - 10, T0 + 10, 86400)}
    assert envs == {"production"}  # the history moved with it, and the new one went there
