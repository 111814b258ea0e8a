"""What each dashboard page shows, as JSON built from the control plane's own state (the same
store, scheduler and call stats the API reads). Pure reads: a view never changes anything."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import msgspec
from aiohttp import web

from gworker_client._protocol import layer_digests
from gworker_client._protocol.objects import ObjectKind

from ..server.call_stats import CallStats
from ..server.errors import NotFound
from ..server.state import State
from ..usage import load_prices
from ..usage.report import summarize

View = dict[str, Any]


def _state(app: web.Application) -> State:
    return app["state"]  # type: ignore[no-any-return]


def apps(app: web.Application, env: str | None = None) -> View:
    state = _state(app)
    out = []
    for a in reversed(state.store.apps(env)):
        out.append(
            {
                **a,
                "functions": sorted(state.store.app_functions(a["id"])),
                "containers": state.scheduler.container_count(a["id"]),
                "schedules": app["schedules"].next_runs(a["id"]),
                "urls": app["gateway"].table.urls(a["id"]),
            }
        )
    return {"apps": out}


def app_detail(app: web.Application, app_id: str) -> View:
    state = _state(app)
    info = state.store.app(app_id)
    if info is None:
        raise NotFound(f"no app {app_id!r}")
    stats: CallStats = app["call_stats"]
    functions = []
    recent = []
    for tag, fid in sorted(state.store.app_functions(app_id).items()):
        fs = state.scheduler.functions.find(fid)
        row = state.store.function(fid) or {"spec": {}}
        spec = row["spec"]
        functions.append(
            {
                "tag": tag,
                "kind": "class" if spec.get("methods") else "function",
                "gpu": spec.get("gpu"),
                **stats.summary(app_id, tag),
                "per_minute": stats.per_minute(app_id, tag),
                "containers": len(fs.active()) if fs else 0,
                "backlog": len(fs.pending) if fs else 0,
                "running": sum(len(c.leased) for c in fs.containers.values()) if fs else 0,
            }
        )
        recent += [{"function": tag, **r.__dict__} for r in stats.recent(app_id, tag)]
    recent.sort(key=lambda r: -r["ts"])
    probes = state.store.probes(app_id, 50)
    return {
        "app": info,
        "urls": app["gateway"].table.urls(app_id),
        "schedules": app["schedules"].next_runs(app_id),
        "functions": functions,
        "inputs": recent[:100],
        "running": state.scheduler.containers_of(app_id),
        "containers": state.store.containers_of_app(app_id, 50),
        "probes": [
            dict(zip(("container", "method", "kind", "ok", "detail", "duration", "ts"), p))
            for p in probes[::-1]
        ],
    }


def container(app: web.Application, cid: str) -> View:
    state = _state(app)
    row = state.store.container_row(cid)
    owner = state.store.app(row["app_id"]) if row else None
    if row is None or owner is None:
        raise NotFound(f"no container {cid!r}")
    live = next((c for c in state.scheduler.containers_of(owner["id"]) if c["id"] == cid), None)
    spec = (state.store.function(row["function_id"]) or {"spec": {}})["spec"]
    image = spec.get("image") or {}
    return {
        "container": row,
        "app": owner,
        "live": live,
        "image": _image_id(image),
        "gpu": (live or {}).get("gpu"),
        "probes": [
            dict(zip(("container", "method", "kind", "ok", "detail", "duration", "ts"), p))
            for p in state.store.probes(owner["id"], 200)
            if p[0] == cid
        ],
    }


def _image_id(image: dict[str, Any]) -> str:
    layers = image.get("layers") or []
    return layer_digests(layers)[-1][:16] if layers else "-"


def images(app: web.Application) -> View:
    state = _state(app)
    used: dict[str, dict[str, Any]] = {}
    for row in state.store.functions():
        image = row["spec"].get("image") or {}
        key = _image_id(image)
        entry = used.setdefault(
            key,
            {
                "id": key,
                "layers": [_layer(layer) for layer in image.get("layers") or []],
                "functions": [],
                "spec_key": hashlib.sha256(json.dumps(image, sort_keys=True).encode()).hexdigest(),
            },
        )
        app_row = state.store.app(row["app_id"]) or {"name": row["app_id"]}
        entry["functions"].append(f"{app_row['name']}.{row['tag']}")
    builds = [
        {
            "key": key,
            "done": b.done,
            "error": b.error,
            "log": b.lines[-500:],
        }
        for key, b in app["image_builds"].builds.items()
    ]
    return {"images": list(used.values()), "built": _built(app), "builds": builds}


def _built(app: web.Application) -> list[dict[str, Any]]:
    """The images in this server's image store (what `gw image list` shows)."""
    store = app["image_builds"].builder.store
    in_use = app["image_builds"].in_use()
    sizes = {d: store.layer_size(d) for d in store.layers()}
    return [
        {
            "key": r.key[:16],
            "python": r.config.python_version,
            "layers": len(r.layers),
            "mib": round(sum(sizes.get(d, 0) for d in r.layers) / 2**20, 1),
            "in_use": r.key in in_use,
            "origin": r.origin or "built",  # "snapshot": a sandbox's filesystem
        }
        for r in store.images()
    ]


def _layer(layer: dict[str, Any]) -> str:
    op = layer.get("op", "?")
    detail = layer.get("packages") or layer.get("commands") or layer.get("python_version") or ""
    return f"{op} {' '.join(map(str, detail)) if isinstance(detail, list) else detail}".strip()


def objects(app: web.Application, env: str) -> View:
    """Dicts, Queues and Volumes with their sizes, and Secrets by name only."""
    state = _state(app)
    kinds = app["kinds"]
    out: dict[str, list[dict[str, Any]]] = {}
    for plural, kind in (
        ("dicts", ObjectKind.DICT),
        ("queues", ObjectKind.QUEUE),
        ("volumes", ObjectKind.VOLUME),
    ):
        describe = kinds[plural].describe
        out[plural] = [
            {"id": o.id, "name": o.name, "updated_at": o.updated_at, **describe(state.store, o.id)}
            for o in state.store.named_objects(kind, env)
        ]
    out["secrets"] = [  # names only: never a key or a value
        {"id": o.id, "name": o.name, "updated_at": o.updated_at}
        for o in state.store.named_objects(ObjectKind.SECRET, env)
    ]
    return out


def volume_dir(app: web.Application, vid: str, path: str) -> View:
    entries = _state(app).store.volume_listdir(vid, path.strip("/"), False)
    if entries is None:
        raise NotFound(f"no directory {path!r} in volume {vid}")
    return {"path": path, "entries": [list(e) for e in entries]}


def gpus(app: web.Application) -> View:
    backend = _state(app).scheduler.backend.describe()
    return {"gpus": backend.get("gpus", []), "source": backend.get("gpu_source", "")}


def environments(app: web.Application) -> View:
    """The environments' names, for the page's selector."""
    return {"environments": [e.name for e in _state(app).store.environments()]}


def usage(app: web.Application, since_s: float, bucket_s: int, env: str | None = None) -> View:
    """Cost over time per app (one series each, ``bucket_s`` apart) and totals by app, of one
    environment or (``env`` None) all."""
    state = _state(app)
    until = time.time()
    since = until - since_s
    prices = load_prices(app["home"])
    totals = state.store.usage_totals(since, until + 1, bucket_s, environment=env)
    first = int(since // bucket_s) * bucket_s  # every bucket of the window, used or not
    buckets = [float(b) for b in range(first, int(until) + 1, bucket_s)]
    names = sorted({t.subject.app_name for t in totals})
    cost = {n: [0.0] * len(buckets) for n in names}
    gpu_s = [0.0] * len(buckets)
    index = {b: i for i, b in enumerate(buckets)}
    for t in totals:
        one = summarize([t], prices, "app", since, until).rows[0]
        cost[t.subject.app_name][index[t.bucket]] += one.cost_usd
        gpu_s[index[t.bucket]] += one.gpu_seconds
    report = summarize(totals, prices, "app", since, until)
    return {
        "buckets": buckets,
        "cost": cost,
        "gpu_seconds": gpu_s,
        "rows": [msgspec.structs.asdict(r) for r in report.rows],
        "total_usd": report.total_usd,
        "prices": report.prices,
    }
