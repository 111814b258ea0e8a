"""The advice rules: each reads the app's code (``source.py``), the price table and, with
``--app``, what the server observed, and yields concrete advice with an estimated effect.

The rules are the reference's own best practices (Performance, Reliability, Cost Optimization):
load models in ``@enter``; keep heavy imports out of the local import path; give network calls a
timeout and retries; match the GPU to what the model needs and give it fallbacks; keep warm only
what is called; size the idle timeout to the traffic; install with uv; fan out with ``.map``; batch
single-item calls to a model.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..usage import Prices
from .source import AppSource, Deployed, Method, calls_in, dotted, last_name

MONTH_S = 30 * 86400
DEFAULT_CPU, DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT_S = 0.125, 128, 300.0
# GPU memory in GB (the reference's table); a family name counts as its smallest member
GPU_MEMORY_GB = {
    "T4": 16,
    "L4": 24,
    "A10G": 24,
    "L40S": 48,
    "A100-40GB": 40,
    "A100": 40,
    "A100-80GB": 80,
    "H100": 80,
    "H200": 141,
    "B200": 180,
}
HEAVY_CALLS = {
    "from_pretrained", "load_model", "SentenceTransformer", "CrossEncoder", "LLM", "pipeline",
    "AutoModel", "torch.load", "joblib.load", "whisper.load_model", "boto3.client",
    "boto3.resource", "OpenAI", "AsyncOpenAI", "Anthropic", "create_engine", "load_checkpoint",
    "hf_hub_download", "snapshot_download",
}  # fmt: skip
HEAVY_MODULES = {
    "torch", "tensorflow", "jax", "transformers", "vllm", "diffusers", "sentence_transformers",
    "sklearn", "scipy", "pandas", "cv2", "xgboost", "lightgbm", "accelerate", "datasets",
    "whisper", "llama_cpp", "onnxruntime", "keras",
}  # fmt: skip
NETWORK_PREFIXES = (
    "requests.", "httpx.", "urllib.request.", "aiohttp.", "socket.", "boto3.", "smtplib.",
    "ftplib.", "http.client.", "websockets.", "grpc.",
)  # fmt: skip
NETWORK_NAMES = {"urlopen", "create_connection"}


@dataclass(frozen=True)
class Advice:
    """One piece of advice: where, why, what to change, and what it is worth."""

    rule: str
    where: str  # file:line
    function: str | None
    why: str
    change: str
    effect: str
    usd_per_month: float = 0.0  # estimated saving
    latency_s: float = 0.0  # estimated latency saved per affected call
    severity: int = 1  # 3 cost or failure, 2 latency, 1 hygiene


Observed = dict[str, dict[str, Any]]  # function tag -> what /v1/usage/observed says of it


def _gpus(value: Any) -> list[tuple[str, int]]:
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            kind, _, count = item.partition(":")
            out.append((kind.upper() if kind.lower() != "any" else "any", int(count or 1)))
    return out


def per_second(d: Deployed, prices: Prices) -> float:
    """What one of the function's containers costs per second while it runs."""
    cpu = float(d.value("cpu") or DEFAULT_CPU)
    mem = float(d.value("memory") or DEFAULT_MEMORY_MIB) / 1024
    gpu = _gpus(d.value("gpu"))
    gpu_cost = prices.gpu(gpu[0][0]) * gpu[0][1] if gpu and gpu[0][0] != "any" else 0.0
    return cpu * prices.cpu_core_second + mem * prices.memory_gib_second + gpu_cost


def _line(src: AppSource, node: ast.AST) -> str:
    return src.lines_of(node)


def _uses(d: Deployed) -> list[tuple[Method, ast.Call, str]]:
    return [(m, c, dotted(c.func)) for m in d.methods for c in calls_in(m.node)]


# -- the rules ----------------------------------------------------------------------------------


def load_outside_enter(src: AppSource, prices: Prices, seen: Observed) -> Iterator[Advice]:
    for d in src.deployed:
        if d.has("schedule"):
            continue  # runs rarely by design: loading per run is the run's cost
        for m, call, name in _uses(d):
            if m.is_enter or m.name == "__init__":
                continue
            if name in HEAVY_CALLS or last_name(call.func) in HEAVY_CALLS:
                obs = seen.get(d.name, {}).get("calls") or {}
                mean = obs.get("mean_s")
                effect = (
                    f"the load leaves every call but a container's first; calls now take"
                    f" {mean:.2f}s on average ({obs.get('calls', 0)} observed)"
                    if mean
                    else "the load (typically seconds for a model) leaves every call but a"
                    " container's first"
                )
                where = "a method of the class" if d.kind == "cls" else "the function's body"
                yield Advice(
                    "load-in-method",
                    _line(src, call),
                    d.name,
                    f"`{name or last_name(call.func)}(...)` runs in {where} ({m.name}), so each"
                    " call loads it again",
                    "load it once per container in an `@gw.enter()` (`@modal.enter()`) method of"
                    " an `@app.cls` and keep it on `self`",
                    effect,
                    latency_s=mean or 0.0,
                    severity=2,
                )
                break


def heavy_module_imports(src: AppSource, prices: Prices, seen: Observed) -> Iterator[Advice]:
    for stmt in src.tree.body:  # module level only: `with image.imports():` blocks are not here
        names = []
        if isinstance(stmt, ast.Import):
            names = [a.name for a in stmt.names]
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
            names = [stmt.module]
        heavy = sorted({n.split(".")[0] for n in names} & HEAVY_MODULES)
        if heavy:
            yield Advice(
                "heavy-import",
                _line(src, stmt),
                None,
                f"`{', '.join(heavy)}` is imported at module level: every `gw run`/`gw deploy`"
                " imports it on your machine (where it may not even be installed), and every"
                " container of every function pays for it",
                "import it under `with image.imports():` (or inside the functions and `@enter`"
                " methods that use it)",
                "local start-up without the import (seconds for torch-sized packages), and"
                " containers of functions that do not use it start faster",
                severity=2,
            )


def network_without_guard(src: AppSource, prices: Prices, seen: Observed) -> Iterator[Advice]:
    for d in src.deployed:
        net = next(
            (
                (call, name)
                for _, call, name in _uses(d)
                if name.startswith(NETWORK_PREFIXES) or last_name(call.func) in NETWORK_NAMES
            ),
            None,
        )
        if net is None:
            continue
        missing = [o for o in ("timeout", "retries") if not d.has(o)]
        if not missing:
            continue
        hang = per_second(d, prices) * DEFAULT_TIMEOUT_S
        yield Advice(
            "network-guard",
            _line(src, net[0]),
            d.name,
            f"`{net[1] or last_name(net[0].func)}` calls the network, and the decorator sets no"
            f" {' or '.join(missing)}: a hung connection holds the container until the default"
            f" {DEFAULT_TIMEOUT_S:.0f}s timeout, and a transient failure reaches your callers",
            f"set {', '.join(f'`{o}=`' for o in missing)} on `@app.{d.kind}` (line {d.line}),"
            " e.g. `timeout=60, retries=gw.Retries(max_retries=3, backoff_coefficient=2.0)`",
            f"each hung call costs up to ${hang:.4f} of container time; retries turn transient"
            " failures into successes",
            severity=3,
        )


def gpu_fallbacks(src: AppSource, prices: Prices, seen: Observed) -> Iterator[Advice]:
    for d in src.deployed:
        value = d.value("gpu")
        if not isinstance(value, str) or value.lower() == "any":
            continue
        (kind, count), memory = _gpus(value)[0], GPU_MEMORY_GB.get(_gpus(value)[0][0])
        if memory is None:
            continue
        alternatives = sorted(
            (t for t, gb in GPU_MEMORY_GB.items() if gb >= memory and t not in (kind, "A100")),
            key=lambda t: prices.gpu(t),
        )[:2]
        if not alternatives:
            continue
        suffix = f":{count}" if count > 1 else ""
        listed = ", ".join(f'"{t}{suffix}"' for t in [kind, *alternatives])
        yield Advice(
            "gpu-fallbacks",
            f"{src.path}:{d.option_lines['gpu']}",
            d.name,
            f'gpu="{value}" names one type: when none is free its inputs wait',
            f"list fallbacks with at least as much memory, in order: `gpu=[{listed}]`",
            "starts on the next type instead of queueing when no "
            + kind
            + " is free (prices per hour: "
            + ", ".join(f"{t} ${prices.gpu(t) * 3600:.2f}" for t in [kind, *alternatives])
            + ")",
            severity=2,
        )


def gpu_oversized(src: AppSource, prices: Prices, seen: Observed) -> Iterator[Advice]:
    for d in src.deployed:
        gpus = _gpus(d.value("gpu"))
        usage = seen.get(d.name, {}).get("usage")
        if not gpus or not usage or not usage.get("gpu_type") or not usage.get("gpu_seconds"):
            continue
        kind, count = usage["gpu_type"], max(1, gpus[0][1])
        if usage.get("gpu_memory_peak_mib") is not None:  # measured on the devices (NVML)
            peak_gib = usage["gpu_memory_peak_mib"] / 1024 / count
            measured = f"its GPUs held at most {peak_gib:.1f} GiB each"
        else:  # simulated GPUs: the weights pass through host memory on their way
            peak_gib = usage["memory_peak_mib"] / 1024
            measured = (
                f"its containers peaked at {peak_gib:.1f} GiB of host memory (GPU memory was"
                " not measured here: no NVML)"
            )
        need_gb = peak_gib * 1.2  # room for activations and fragmentation
        fits = [t for t, gb in GPU_MEMORY_GB.items() if gb >= need_gb and t != "A100"]
        cheaper = sorted((t for t in fits if prices.gpu(t) < prices.gpu(kind)), key=prices.gpu)
        if not cheaper:
            continue
        best = cheaper[0]
        window_s = seen[d.name].get("window_s") or 86400
        monthly = (prices.gpu(kind) - prices.gpu(best)) * usage["gpu_seconds"] * MONTH_S / window_s
        suffix = f":{count}" if count > 1 else ""
        yield Advice(
            "gpu-oversized",
            f"{src.path}:{d.option_lines.get('gpu', d.line)}",
            d.name,
            f"{measured}, which fits a {best} ({GPU_MEMORY_GB[best]} GB) with 20% room; it runs"
            f" on {kind} ({GPU_MEMORY_GB.get(kind, '?')} GB)",
            f'ask for gpu="{best}{suffix}" (or a list starting with it)',
            f"${monthly:.2f}/month at the observed {usage['gpu_seconds']:.0f} GPU-seconds per"
            f" {window_s / 3600:.0f}h (${prices.gpu(kind) * 3600:.2f}/h ->"
            f" ${prices.gpu(best) * 3600:.2f}/h per GPU)",
            usd_per_month=monthly,
            severity=3,
        )


def warm_but_rarely_called(src: AppSource, prices: Prices, seen: Observed) -> Iterator[Advice]:
    for d in src.deployed:
        warm = d.value("min_workers", "min_containers", "keep_warm")
        if not isinstance(warm, int) or warm <= 0:
            continue
        calls = seen.get(d.name, {}).get("calls")
        if calls is not None:
            window_h = (seen[d.name].get("call_window_s") or 3600) / 3600
            per_hour = calls["calls"] / window_h
            if per_hour >= 6:
                continue
            why = f"it was called {per_hour:.1f} times an hour"
        elif d.has("schedule"):
            why = "it runs on a schedule"
        else:
            continue
        idle = warm * per_second(d, prices) * MONTH_S
        yield Advice(
            "warm-rarely-called",
            f"{src.path}:{d.option_lines.get('min_workers', d.line)}",
            d.name,
            f"min_workers={warm} keeps {warm} container(s) running day and night, but {why}",
            "drop min_workers (scale to zero) and, if the first call's start matters, raise"
            " idle_timeout instead",
            f"${idle:.2f}/month of idle containers",
            usd_per_month=idle,
            severity=3,
        )


def idle_timeout_cold_starts(src: AppSource, prices: Prices, seen: Observed) -> Iterator[Advice]:
    for d in src.deployed:
        obs = seen.get(d.name)
        if not obs or not obs.get("usage") or not obs.get("calls"):
            continue
        starts, calls = obs["usage"]["containers"], obs["calls"]["calls"]
        if starts < 5 or calls == 0 or starts / calls < 0.2:
            continue
        start_s = obs.get("mean_start_s") or 1.0
        window_s = obs.get("window_s") or 86400
        cost = starts * start_s * per_second(d, prices) * MONTH_S / window_s
        idle = d.value("idle_timeout", "scaledown_window", "container_idle_timeout") or 60
        yield Advice(
            "idle-cold-starts",
            f"{src.path}:{d.option_lines.get('idle_timeout', d.line)}",
            d.name,
            f"{starts} containers started for {calls} calls: with idle_timeout={idle}s they"
            " scale down between calls, so most calls wait for a cold start",
            f"raise idle_timeout (scaledown_window) above the gap between calls, e.g."
            f" idle_timeout={int(idle) * 4}",
            f"{starts} cold starts of {start_s:.2f}s each: that latency on those calls, and"
            f" ${cost:.2f}/month of start-up time",
            usd_per_month=cost,
            latency_s=start_s,
            severity=2,
        )


def pip_over_uv(src: AppSource, prices: Prices, seen: Observed) -> Iterator[Advice]:
    for call in calls_in(src.tree):
        name = last_name(call.func)
        if name in ("pip_install", "pip_install_from_requirements"):
            uv = (
                "uv_pip_install(requirements=[...])" if "requirements" in name else "uv_pip_install"
            )
            yield Advice(
                "uv-pip-install",
                _line(src, call),
                None,
                f"`.{name}(...)` installs with pip on Modal",
                f"use `.{uv}` (same arguments)",
                "10-100x faster package installs in image builds on Modal (the reference); on"
                " gworker both install with uv, so nothing changes here",
                severity=1,
            )


def _loops(tree: ast.AST) -> Iterator[tuple[ast.AST, ast.Call]]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.AsyncFor, ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            for call in calls_in(node):
                if isinstance(call.func, ast.Attribute) and call.func.attr == "remote":
                    yield node, call


def remote_in_loop(src: AppSource, prices: Prices, seen: Observed) -> Iterator[Advice]:
    for _, call in _loops(src.tree):
        target = dotted(call.func)[: -len(".remote")]
        short = target.rsplit(".", 1)[-1]
        mean = (seen.get(short, {}).get("calls") or {}).get("mean_s")
        yield Advice(
            "remote-in-loop",
            _line(src, call),
            short,
            f"`{target}.remote(...)` in a loop runs the items one after another, one round trip"
            " each",
            f"`list({target}.map(items))` (or `.starmap` for several arguments) runs them in"
            " parallel across containers, with inputs and outputs moved in batches",
            f"N items take about one call's time instead of N ({mean:.2f}s each observed)"
            if mean
            else "N items take about one call's time instead of N",
            latency_s=mean or 0.0,
            severity=2,
        )


def batched_candidates(src: AppSource, prices: Prices, seen: Observed) -> Iterator[Advice]:
    fanned = {
        dotted(c.func).rsplit(".", 2)[-2]
        for c in calls_in(src.tree)
        if isinstance(c.func, ast.Attribute) and c.func.attr in ("map", "spawn", "spawn_map")
    }
    fanned |= {dotted(c.func).rsplit(".", 2)[-2] for _, c in _loops(src.tree)}
    for d in src.deployed:
        for m in d.methods:
            params = [a.arg for a in m.node.args.args if a.arg != "self"]
            if "batched" in m.decorators or m.is_enter or len(params) != 1 or m.name not in fanned:
                continue
            single = next(
                (
                    c
                    for c in calls_in(m.node)
                    for a in c.args
                    if isinstance(a, ast.List)
                    and len(a.elts) == 1
                    and isinstance(a.elts[0], ast.Name)
                    and a.elts[0].id == params[0]
                ),
                None,
            )
            if single is None:
                continue
            yield Advice(
                "batched-candidate",
                _line(src, single),
                f"{d.name}.{m.name}" if d.kind == "cls" else d.name,
                f"`{m.name}` is called with many single items at once (`.map`/loops in this"
                f" file) and wraps each in a one-item list for `{dotted(single.func)}`",
                f"take a list: `@gw.batched(max_batch_size=64, wait_ms=20)` on `{m.name}(self,"
                f" {params[0]}s: list)` and call the model once per batch",
                "one model call serves up to 64 inputs: far higher throughput per container,"
                " so fewer containers for the same load",
                severity=2,
            )


RULES = (
    load_outside_enter,
    heavy_module_imports,
    network_without_guard,
    gpu_oversized,
    gpu_fallbacks,
    warm_but_rarely_called,
    idle_timeout_cold_starts,
    pip_over_uv,
    remote_in_loop,
    batched_candidates,
)
