"""Functions the end-to-end tests call."""

import os
import time

import gworker_client as gw

app = gw.App("basic")


class CustomError(Exception):
    pass


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
def add(a: int, b: int = 0) -> int:
    return a + b


@app.function()
def echo(value):
    return value


@app.function()
def fail(message: str) -> None:
    raise CustomError(message)


@app.function(timeout=1)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function()
def unpicklable():
    import threading

    return threading.Lock()


@app.function()
def shout(text: str) -> str:
    print(f"shouting {text}")
    return text.upper()


@app.function()
async def async_double(x: int) -> int:
    import asyncio

    await asyncio.sleep(0)
    return 2 * x


# Containers see none of the test machine's files: state shared across attempts lives in a Dict.
state = gw.Dict.from_name("basic-app-state", create_if_missing=True)


def _count(key: str) -> int:
    """How many times this was called before for ``key``; counts this call."""
    n = state.get(key, 0)
    state[key] = n + 1
    return n


def container_id() -> str:
    return os.environ["GW_CONTAINER_ID"]


@app.function(retries=gw.Retries(max_retries=2, initial_delay=0.0, backoff_coefficient=1.0))
def flaky(counter_key: str, fail_times: int) -> int:
    n = _count(counter_key)
    if n < fail_times:
        raise RuntimeError(f"attempt {n} fails")
    return n


@app.function(retries=gw.Retries(max_retries=1, initial_delay=0.0, backoff_coefficient=1.0))
def die_once(counter_key: str) -> str:
    n = _count(counter_key)
    if n == 0:
        os.kill(os.getpid(), 9)
    return f"ran {n + 1} times"


@app.function()
def always_die() -> None:
    os.kill(os.getpid(), 9)


@app.function()
def slow_square(x: int) -> int:
    time.sleep(0.3)
    return x * x


@app.function()
def call_other(x: int) -> int:
    return square.remote(x) + 1


@app.function()
def which_container() -> str:
    return container_id()


@app.function(retries=gw.Retries(max_retries=1, initial_delay=0.0, backoff_coefficient=1.0))
def report_container_then_sleep(key: str, seconds: float) -> str:
    state[key] = container_id()
    time.sleep(seconds)
    return container_id()
