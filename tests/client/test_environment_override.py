"""``environment_name=`` of app.run()/deploy(): per thread and per task, innermost wins, and
``async with`` sets it for its block as ``with`` does."""

from __future__ import annotations

import asyncio
import threading

from gworker_client import _config
from gworker_client._aio import DualContext


def test_an_override_in_one_thread_does_not_move_another(monkeypatch) -> None:
    monkeypatch.delenv("GW_ENVIRONMENT", raising=False)
    inside, seen = threading.Event(), []
    done = threading.Event()

    def run_in_dev() -> None:
        with _config.using_environment("dev"):
            inside.set()
            done.wait(10)

    t = threading.Thread(target=run_in_dev)
    t.start()
    inside.wait(10)
    seen.append(_config.environment())
    done.set()
    t.join()
    assert seen == ["main"]


def test_nested_overrides_unwind_innermost_first() -> None:
    with _config.using_environment("a"):
        with _config.using_environment("b"):
            with _config.using_environment("a"):
                assert _config.environment() == "a"
            assert _config.environment() == "b"  # a list's remove("a") dropped the outer one
        assert _config.environment() == "a"


def test_async_with_sets_it_for_its_block(monkeypatch) -> None:
    monkeypatch.delenv("GW_ENVIRONMENT", raising=False)

    async def run() -> list[str]:
        seen = []
        async with DualContext(_config.using_environment("dev")):
            seen.append(_config.environment())
        seen.append(_config.environment())
        return seen

    assert asyncio.run(run()) == ["dev", "main"]
