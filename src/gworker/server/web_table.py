"""Which web endpoint a URL names: labels, custom domains and the URLs the gateway prints.

Every endpoint has one *label*, a DNS label that names it both in a path
(``http://SERVER/web/<label>/...``) and in a Host header (``<label>.<any domain>``). It is the
decorator's ``label=`` or ``<app>-<function>`` (``<app>-<class>-<method>`` for a class's method),
lowercased with other characters turned into dashes; an ephemeral app's (``gw run``) ends in
``-dev``, and the app's environment's web suffix (its name for any environment but ``main``,
unless ``gw environment update --set-web-suffix`` changed it) prefixes ``<suffix>--``, as Modal's
URLs do, so one app deployed to two environments gets two sets of URLs. A label
longer than 63 characters is cut to 56 plus a dash and 6 hex digits of its hash.

The table is built from the scheduler's live functions and rebuilt after a publish or a stop.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from gworker_client._protocol import FunctionSpec, PublishedFunction, WebEndpoint

from ..store.contract import StateStore
from ..store.environments import default_web_suffix
from .errors import Conflict
from .scheduler import Scheduler

_NOT_LABEL = re.compile(r"[^a-z0-9-]+")
_IPV4 = re.compile(r"^[0-9.]+$")


@dataclass(frozen=True)
class Endpoint:
    function_id: str
    app_id: str
    tag: str
    name: str | None  # the method's name on a class, None on a function
    label: str
    config: WebEndpoint

    @property
    def key(self) -> str:
        """The endpoint's name in its container's reported ports."""
        return self.name or ""

    @property
    def display(self) -> str:
        return f"{self.tag}.{self.name}" if self.name else self.tag


def label_for(
    app: dict[str, Any], tag: str, config: WebEndpoint, web_suffix: str | None = None
) -> str:
    """The endpoint's label; ``web_suffix`` None means the default one of the app's
    environment."""
    if config.label:
        base = config.label
    else:
        parts = [app["name"], tag, *([config.name] if config.name else [])]
        base = _NOT_LABEL.sub("-", "-".join(parts).lower()).strip("-")
    if app["mode"] in ("ephemeral", "detached"):
        base += "-dev"
    suffix = default_web_suffix(app["environment"]) if web_suffix is None else web_suffix
    if suffix:
        base = f"{_NOT_LABEL.sub('-', suffix.lower())}--{base}"
    base = re.sub("-{3,}", "--", base).strip("-") or "endpoint"
    if len(base) > 63:
        base = base[:56].rstrip("-") + "-" + hashlib.sha256(base.encode()).hexdigest()[:6]
    return base


class WebTable:
    def __init__(self, store: StateStore, scheduler: Scheduler) -> None:
        self.store = store
        self.scheduler = scheduler
        self.by_label: dict[str, Endpoint] = {}
        self.by_domain: dict[str, Endpoint] = {}
        self.dirty = True

    @property
    def base_url(self) -> str:
        return self.scheduler.server_url

    def url(self, endpoint: Endpoint) -> str:
        return f"{self.base_url}/web/{endpoint.label}"

    def _endpoints(self, app_id: str, functions: list[tuple[str, str, FunctionSpec]]) -> list:
        app = self.store.app(app_id)
        if app is None:
            return []
        env = self.store.environment(app["environment"])
        suffix = env.web_suffix if env is not None else None
        return [
            Endpoint(fid, app_id, tag, w.name, label_for(app, tag, w, suffix), w)
            for fid, tag, spec in functions
            for w in spec.web
        ]

    def rebuild(self) -> None:
        by_app: dict[str, list[tuple[str, str, FunctionSpec]]] = {}
        for fs in list(self.scheduler.functions):
            if fs.live and fs.params is None and fs.spec.web:
                by_app.setdefault(fs.app_id, []).append((fs.id, fs.tag, fs.spec))
        self.by_label, self.by_domain = {}, {}
        for app_id, functions in by_app.items():
            for ep in self._endpoints(app_id, functions):
                self.by_label.setdefault(ep.label, ep)
                for domain in ep.config.custom_domains:
                    self.by_domain.setdefault(domain, ep)
        self.dirty = False

    def _fresh(self) -> None:
        if self.dirty:
            self.rebuild()

    def _live(self, ep: Endpoint | None) -> Endpoint | None:
        """``ep`` if its function still runs; a stopped one makes the table stale."""
        if ep is None:
            return None
        if self.scheduler.web_function(ep.function_id) is None:
            self.dirty = True
            return None
        return ep

    def by_path_label(self, label: str) -> Endpoint | None:
        self._fresh()
        ep = self._live(self.by_label.get(label))
        if ep is None and self.dirty:
            self.rebuild()
            ep = self._live(self.by_label.get(label))
        return ep

    def by_host(self, host: str) -> Endpoint | None:
        """The endpoint a Host header names: a custom domain, or ``<label>.<domain>``."""
        name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else ""
        if not name or _IPV4.match(name):
            return None
        self._fresh()
        if name in self.by_domain:
            return self._live(self.by_domain[name])
        label, dot, rest = name.partition(".")
        if not dot or not rest:
            return None
        return self._live(self.by_label.get(label))

    def check_publish(self, app_id: str, functions: list[PublishedFunction]) -> None:
        """Refuse a publish whose labels or custom domains another running app holds."""
        self.rebuild()
        mine = self._endpoints(app_id, [("", f.tag, f.spec) for f in functions])
        seen: dict[str, str] = {}
        for ep in mine:
            for kind, key, table in [("label", ep.label, self.by_label)] + [
                ("custom domain", d, self.by_domain) for d in ep.config.custom_domains
            ]:
                if key in seen:
                    raise Conflict(
                        f"web {kind} {key!r} is used by both {seen[key]!r} and {ep.display!r}"
                        " in this app; give one of them another label="
                    )
                seen[key] = ep.display
                other = table.get(key)
                if other is not None and other.app_id != app_id:
                    owner = self.store.app(other.app_id) or {"name": other.app_id}
                    raise Conflict(
                        f"web {kind} {key!r} of {ep.display!r} is already served by app"
                        f" {owner['name']!r} ({other.display}); stop that app or choose"
                        " another label= / custom_domains="
                    )

    def urls(self, app_id: str) -> dict[str, str]:
        """``{function or Class.method: URL}`` of an app's endpoints."""
        self.rebuild()
        return {ep.display: self.url(ep) for ep in self.by_label.values() if ep.app_id == app_id}

    def endpoint_of(self, function_id: str, name: str | None) -> Endpoint | None:
        for attempt in range(2):
            if attempt or self.dirty:
                self.rebuild()
            for ep in self.by_label.values():
                if ep.function_id == function_id and ep.name == name:
                    return ep
        return None
