// The gworker dashboard: hash-routed pages rendered from the dashboard's JSON API, kept live by
// server-sent events (read with fetch, so every request carries the Authorization header).
"use strict";

const API = "/dashboard/api";
const KEY = "gw-dashboard-token";
const $ = (id) => document.getElementById(id);
let streams = []; // AbortControllers of the current page's streams
let charts = [];

// -- auth ------------------------------------------------------------------------------------

function token() { return sessionStorage.getItem(KEY) || ""; }

async function redeemLink() {
  const m = location.hash.match(/link=([^&]+)/);
  if (!m) return null;
  const r = await fetch(API + "/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ link: decodeURIComponent(m[1]) }),
  });
  const body = await r.json();
  history.replaceState(null, "", location.pathname + "#/apps");
  if (r.ok) sessionStorage.setItem(KEY, body.session);
  return r.ok ? null : body.error.message;
}

function showLogin(message) {
  stopStreams();
  $("view").innerHTML = "";
  $("logs-pane").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const value = $("token-input").value.trim();
  const r = await fetch(API + "/whoami", { headers: { Authorization: "Bearer " + value } });
  if (!r.ok) { showLogin((await r.json()).error.message); return; }
  sessionStorage.setItem(KEY, value);
  $("login").hidden = true;
  route();
});

async function api(path) {
  const r = await fetch(API + path, { headers: { Authorization: "Bearer " + token() } });
  const body = await r.json();
  if (r.status === 401) { showLogin(body.error.message); throw new Error("unauthorized"); }
  if (!r.ok) throw new Error(body.error.message);
  return body;
}

// Server-sent events over fetch: each "data:" line is one JSON message.
function stream(path, onMessage) {
  const ctl = new AbortController();
  streams.push(ctl);
  (async () => {
    const r = await fetch(API + path, {
      headers: { Authorization: "Bearer " + token() }, signal: ctl.signal,
    });
    if (r.status === 401) { showLogin((await r.json()).error.message); return; }
    if (!r.ok) { $("view").innerHTML = `<p class="error">${esc((await r.json()).error.message)}</p>`; return; }
    $("live").classList.remove("off");
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of event.split("\n")) {
          if (line.startsWith("data: ")) onMessage(JSON.parse(line.slice(6)));
        }
      }
    }
    $("live").classList.add("off");
  })().catch((e) => { if (e.name !== "AbortError") $("live").classList.add("off"); });
}

function stopStreams() {
  for (const ctl of streams) ctl.abort();
  streams = [];
  for (const c of charts) c.destroy();
  charts = [];
}

// Re-render a view whenever the server says it changed.
function live(viewPath, render) {
  stream("/stream?view=" + encodeURIComponent(viewPath), (data) => {
    if (data.error) { $("view").innerHTML = `<p class="error">${esc(data.error.message)}</p>`; return; }
    for (const c of charts) c.destroy();
    charts = [];
    $("view").innerHTML = render(data);
    afterRender.forEach((f) => f());
    afterRender = [];
  });
}
let afterRender = [];

function followLogs(appId, containerId) {
  $("logs").textContent = "";
  $("logs-pane").hidden = false;
  const q = "/logs?app=" + appId + (containerId ? "&container=" + containerId : "");
  stream(q, (line) => {
    const span = document.createElement("span");
    span.className = line.stream;
    span.textContent = line.text;
    const pre = $("logs");
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(span);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  });
}

// -- rendering: escaping, tables, charts ---------------------------------------------------------

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "-");
const secs = (s) => (s == null ? "-" : s < 1 ? (s * 1000).toFixed(0) + " ms" : s.toFixed(2) + " s");
const usd = (v) => "$" + Number(v).toFixed(v >= 1 ? 2 : 5);
function table(headers, rows, emptyText) {
  if (!rows.length) return `<p class="empty">${esc(emptyText || "nothing yet")}</p>`;
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.join("")}</tr>`).join("")}</tbody></table>`;
}
const td = (v, cls) => `<td${cls ? ` class="${cls}"` : ""}>${v}</td>`;

function chart(id, title, xs, series, yLabel, format) {
  afterRender.push(() => {
    const el = $(id);
    if (!el || !xs.length) return;
    const colors = ["#2f6fde", "#e8710a", "#1e8e3e", "#9334e6", "#d01884", "#12b5cb"];
    const opts = {
      title, width: Math.max(el.clientWidth - 16, 300), height: 220,
      scales: { x: { time: true } },
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 2 }))],
      axes: [{}, { label: yLabel, size: 70, values: format ? (u, vals) => vals.map(format) : undefined }],
    };
    charts.push(new uPlot(opts, [xs, ...series.map((s) => s.values)], el));
  });
  return `<div class="chart" id="${id}"></div>`;
}

// -- pages -------------------------------------------------------------------------------------

function appsPage(d) {
  const rows = d.apps.map((a) => [
    td(`<a href="#/app/${a.id}">${esc(a.name)}</a><br><small class="muted">${a.id}</small>`),
    td(esc(a.environment)), td(esc(a.mode)), td(esc(a.state), "state-" + a.state), td("v" + a.version),
    td(esc(a.functions.join(", "))), td(a.containers, "num"),
    td(Object.entries(a.urls || {}).map(([k, u]) => `<a href="${esc(u)}">${esc(k || "web")}</a>`).join("<br>") || "-"),
    td((a.schedules || []).map((s) => `${esc(s.function)}: ${esc(s.schedule)}<br><small>next ${when(s.next_run)}</small>`).join("<br>") || "-"),
    td(when(a.created_at)),
  ]);
  return `<h1>Apps</h1>` + table(["app", "environment", "mode", "state", "version", "functions", "containers", "web URLs", "schedules", "created"], rows, "no apps yet: gw run or gw deploy one");
}

function appPage(d) {
  const a = d.app;
  const fns = d.functions.map((f) => [
    td(`<b>${esc(f.tag)}</b> <small class="muted">${f.kind}</small>`),
    td(f.calls_per_min.toFixed(2), "num"), td(f.calls, "num"),
    td(secs(f.p50), "num"), td(secs(f.p90), "num"), td(secs(f.p99), "num"),
    td(f.errors, f.errors ? "num error" : "num"), td(f.containers, "num"), td(f.running, "num"),
    td(f.backlog, "num"),
  ]);
  const minute = Math.floor(Date.now() / 60000) * 60;
  const xs = (d.functions[0]?.per_minute || []).map((_, i, all) => minute - (all.length - 1 - i) * 60);
  const inputs = d.inputs.map((i) => [
    td(esc(i.function)), td(`<code>${esc(i.call_id)}</code>#${i.idx}`),
    td(esc(i.status), "status-" + i.status), td(secs(i.duration), "num"), td(i.attempts, "num"),
    td(`<a href="#/container/${i.container_id}">${esc(i.container_id)}</a>`), td(when(i.ts)),
    td(i.error ? `<span class="error">${esc(i.error)}</span>` + (i.traceback ? `<pre class="tb">${esc(i.traceback)}</pre>` : "") : ""),
  ]);
  const running = Object.fromEntries(d.running.map((c) => [c.id, c]));
  const containers = d.containers.map((c) => [
    td(`<a href="#/container/${c.id}">${c.id}</a>`), td(esc(c.function)),
    td(esc(running[c.id]?.state || c.state), "state-" + (c.state === "stopped" ? "stopped" : "running")),
    td(esc(running[c.id]?.gpu || "-")), td(when(c.started_at)), td(when(c.stopped_at)), td(esc(c.exit_info || "")),
  ]);
  const probes = d.probes.slice(0, 20).map((p) => [
    td(esc(p.container)), td(esc(p.method)), td(esc(p.kind)), td(p.ok ? "ok" : "failed", p.ok ? "ok" : "error"),
    td(esc(p.detail)), td(when(p.ts)),
  ]);
  return `<h1>${esc(a.name)} <small class="muted">${a.id} · ${esc(a.environment)} · ${esc(a.mode)} · ` +
    `<span class="state-${a.state}">${a.state}</span> · v${a.version}</small></h1>` +
    `<h2>Functions and classes</h2>` +
    table(["name", "calls/min (1h)", "calls (1h)", "p50", "p90", "p99", "errors", "containers", "running", "backlog"], fns) +
    chart("calls-chart", "calls per minute", xs, d.functions.map((f) => ({ label: f.tag, values: f.per_minute })), "calls") +
    `<h2>Calls and inputs</h2>` +
    table(["function", "call", "status", "duration", "retries", "container", "finished", "error"], inputs, "no calls yet") +
    `<h2>Containers</h2>` + table(["container", "function", "state", "gpu", "started", "stopped", "exit"], containers) +
    `<h2>Probes</h2>` + table(["container", "method", "kind", "result", "detail", "at"], probes, "no probes");
}

function containerPage(d) {
  const c = d.container;
  return `<h1>Container ${esc(c.id)}</h1><div class="cards">` +
    [["app", `<a href="#/app/${d.app.id}">${esc(d.app.name)}</a>`], ["function", esc(c.function)],
     ["state", esc(d.live?.state || c.state)], ["image", `<code>${esc(d.image)}</code>`],
     ["GPU", esc(d.gpu || "none")], ["started", when(c.started_at)], ["stopped", when(c.stopped_at)],
     ["exit", esc(c.exit_info || "-")]].map(([k, v]) => `<div class="card">${k}<b>${v}</b></div>`).join("") +
    `</div><h2>Probes</h2>` + table(["method", "kind", "result", "detail", "at"], d.probes.map((p) => [
      td(esc(p.method)), td(esc(p.kind)), td(p.ok ? "ok" : "failed", p.ok ? "ok" : "error"), td(esc(p.detail)), td(when(p.ts))]), "no probes");
}

function imagesPage(d) {
  const rows = d.images.map((i) => [td(`<code>${esc(i.id)}</code>`), td(i.layers.map(esc).join("<br>")), td(esc(i.functions.join(", ")))]);
  const builds = d.builds.map((b) => `<h2>Build <code>${esc(b.key.slice(0, 16))}</code> ` +
    `<small class="${b.error ? "error" : b.done ? "ok" : "muted"}">${b.error ? "failed" : b.done ? "done" : "building"}</small></h2>` +
    (b.error ? `<p class="error">${esc(b.error)}</p>` : "") + `<pre>${esc(b.log.join("\n") || "(cached: no build log)")}</pre>`);
  const built = d.built.map((b) => [td(`<code>${esc(b.key)}</code>`), td(esc(b.python)), td(String(b.layers)),
    td(`${b.mib} MiB`), td(b.in_use ? "running" : "-"), td(esc(b.origin))]);
  return `<h1>Images</h1>` + table(["image", "layers", "used by"], rows, "no images yet") +
    `<h2>Image store</h2>` + table(["key", "python", "layers", "size", "in use", "origin"], built, "no images built") +
    builds.join("");
}

function volumesPage(d) {
  return `<h1>Volumes</h1>` + table(["volume", "files", "size", "updated"], d.volumes.map((v) => [
    td(`<a href="#/volume/${v.id}/">${esc(v.name || v.id)}</a>`), td(v.files ?? "-", "num"),
    td(v.bytes != null ? v.bytes + " B" : "-", "num"), td(when(v.updated_at))]), "no volumes");
}

function volumePage(vid, d) {
  const up = d.path.replace(/\/?[^/]*\/?$/, "");
  const rows = d.entries.map(([path, type, size, mtime]) => [
    td(type === "dir" || type === "directory" ? `<a href="#/volume/${vid}/${esc(path)}">${esc(path)}/</a>` : esc(path)),
    td(esc(type)), td(size, "num"), td(when(mtime))]);
  return `<h1>Volume ${esc(vid)}: /${esc(d.path)}</h1>` + (d.path ? `<p><a href="#/volume/${vid}/${esc(up)}">..</a></p>` : "") +
    table(["path", "type", "size", "modified"], rows, "empty directory");
}

function secretsPage(d) {
  return `<h1>Secrets</h1><p class="muted">Names only: values never leave the server.</p>` +
    table(["secret", "updated"], d.secrets.map((s) => [td(esc(s.name || s.id)), td(when(s.updated_at))]), "no secrets");
}

function objectsPage(d) {
  const rows = (list) => list.map((o) => [td(esc(o.name || o.id)), td(o.items, "num"), td(when(o.updated_at))]);
  return `<h1>Dicts</h1>` + table(["dict", "items", "updated"], rows(d.dicts), "no dicts") +
    `<h1>Queues</h1>` + table(["queue", "items", "updated"], rows(d.queues), "no queues");
}

function gpusPage(d) {
  return `<h1>GPU inventory</h1><p class="muted">${esc(d.source)}</p>` +
    table(["index", "type", "name", "held by"], d.gpus.map((g) => [td(g.index, "num"), td(esc(g.type)), td(esc(g.name)),
      td(g.container ? `<a href="#/container/${g.container}">${esc(g.container)}</a>` : '<span class="ok">free</span>')]), "no GPUs on this machine");
}

function usagePage(d) {
  const rows = d.rows.map((r) => [td(esc(r.app)), td(esc(r.environment)), td(esc(r.gpu_type || "-")), td(r.containers, "num"),
    td(r.cpu_seconds.toFixed(1), "num"), td(r.memory_gib_seconds.toFixed(1), "num"), td(r.gpu_seconds.toFixed(1), "num"), td(usd(r.cost_usd), "num")]);
  const apps = Object.keys(d.cost);
  return `<h1>Usage and cost <small class="muted">last 24 h · total ${usd(d.total_usd)}</small></h1>` +
    chart("cost-chart", "cost per hour (USD)", d.buckets, apps.map((a) => ({ label: a, values: d.cost[a] })), "USD",
      (v) => (v === 0 ? "$0" : "$" + v.toPrecision(2))) +
    chart("gpu-chart", "GPU-seconds per hour", d.buckets, [{ label: "GPU-seconds", values: d.gpu_seconds }], "GPU·s") +
    table(["app", "environment", "gpu", "containers", "cpu core·s", "mem GiB·s", "gpu·s", "cost"], rows, "no usage recorded yet") +
    `<p class="muted">prices: ${esc(d.prices.source)}</p>`;
}

// -- environment selector ----------------------------------------------------------------------

const ENV_KEY = "gw-dashboard-env";

function envName() { return sessionStorage.getItem(ENV_KEY) || ""; }

// ``path`` for the chosen environment; named objects belong to one, so they fall back to main.
function inEnv(path, fallback) {
  const env = envName() || fallback || "";
  return env ? path + (path.includes("?") ? "&" : "?") + "env=" + encodeURIComponent(env) : path;
}

async function fillEnvironments() {
  const d = await api("/environments");
  if (envName() && !d.environments.includes(envName())) sessionStorage.removeItem(ENV_KEY);
  $("env-select").innerHTML = `<option value="">all environments</option>` + d.environments.map((n) =>
    `<option value="${esc(n)}"${n === envName() ? " selected" : ""}>${esc(n)}</option>`).join("");
}

$("env-select").addEventListener("change", (e) => { sessionStorage.setItem(ENV_KEY, e.target.value); route(); });

// -- routing -----------------------------------------------------------------------------------

function route() {
  if (!token()) { showLogin(""); return; }
  $("login").hidden = true;
  fillEnvironments().catch(() => {});
  stopStreams();
  $("logs-pane").hidden = true;
  const hash = location.hash.replace(/^#/, "") || "/apps";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", hash.startsWith(a.getAttribute("href").slice(1)));
  let m;
  if ((m = hash.match(/^\/app\/([\w-]+)$/))) { live("/apps/" + m[1], appPage); followLogs(m[1]); }
  else if ((m = hash.match(/^\/container\/([\w-]+)$/))) {
    live("/containers/" + m[1], containerPage);
    api("/containers/" + m[1]).then((d) => followLogs(d.app.id, m[1])).catch(() => {});
  }
  else if (hash === "/images") live("/images", imagesPage);
  else if (hash === "/volumes") live(inEnv("/objects", "main"), volumesPage);
  else if ((m = hash.match(/^\/volume\/([\w-]+)\/(.*)$/))) live(`/volumes/${m[1]}?path=${encodeURIComponent(m[2])}`, (d) => volumePage(m[1], d));
  else if (hash === "/secrets") live(inEnv("/objects", "main"), secretsPage);
  else if (hash === "/objects") live(inEnv("/objects", "main"), objectsPage);
  else if (hash === "/gpus") live("/gpus", gpusPage);
  else if (hash === "/usage") live(inEnv("/usage?since=24h&bucket=1h"), usagePage);
  else live(inEnv("/apps"), appsPage);
}

window.addEventListener("hashchange", route);
redeemLink().then((refused) => (refused ? showLogin(refused) : route()));
