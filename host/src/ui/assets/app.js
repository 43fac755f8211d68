// Sluice web UI: one page, four views drawn from /api/*, refreshed every
// second while shown. No framework, no charting library: the charts are SVG
// drawn below.
"use strict";

const REFRESH_MS = 1000;
const PAGE_SIZE = 25;
let timer = null;
let batchesPage = 0;

const view = () => document.getElementById("view");

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function fmtMs(ms) {
  if (ms == null) return "–";
  if (ms === 0) return "0 ms";
  if (ms < 1) return ms.toFixed(2) + " ms";
  if (ms < 1000) return Math.round(ms) + " ms";
  return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
}

function fmtNum(n) {
  return n == null ? "–" : Number(n).toLocaleString("en-US");
}

function fmtRate(r) {
  return r >= 100 ? fmtNum(Math.round(r)) : r.toFixed(r >= 10 ? 1 : 2);
}

function fmtBytes(b) {
  if (!b) return "–";
  if (b < 1 << 20) return (b / 1024).toFixed(0) + " KiB";
  return (b / (1 << 20)).toFixed(1) + " MiB";
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

function stamp() {
  document.getElementById("updated").textContent =
    "updated " + new Date().toLocaleTimeString("en-GB");
}

// ---- charts ----------------------------------------------------------

// A timeline of `values` (one per batch, oldest first), as Spark draws them.
function timeline(values, format) {
  const w = 600, h = 120, pad = 28;
  const max = Math.max(1e-9, ...values);
  const x = (i) => pad + (values.length < 2 ? 0 : (i * (w - pad - 6)) / (values.length - 1));
  const y = (v) => h - 16 - (v / max) * (h - 26);
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const dots = values.length <= 60
    ? values.map((v, i) => `<circle class="point" r="2" cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}"></circle>`).join("")
    : values.map((v, i) => `<circle class="point" r="0.8" cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}"></circle>`).join("");
  return `<svg class="chart timeline" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" data-points="${values.length}">
    <line class="axis" x1="${pad}" y1="${h - 16}" x2="${w}" y2="${h - 16}"></line>
    <line class="axis" x1="${pad}" y1="6" x2="${pad}" y2="${h - 16}"></line>
    <text x="2" y="12">${esc(format(max))}</text><text x="2" y="${h - 18}">0</text>
    <polyline class="line" points="${points}"></polyline>${dots}</svg>`;
}

// A histogram of `values` in ten bins.
function histogram(values, format) {
  const w = 300, h = 120, bins = 10;
  const max = Math.max(1e-9, ...values);
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v / max) * bins))]++;
  const top = Math.max(1, ...counts);
  const bw = (w - 10) / bins;
  const bars = counts.map((c, i) => {
    const bh = (c / top) * (h - 30);
    return `<rect class="bar" x="${(5 + i * bw).toFixed(1)}" y="${(h - 16 - bh).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${bh.toFixed(1)}"><title>${c} batches</title></rect>`;
  }).join("");
  return `<svg class="chart histogram" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none">${bars}
    <line class="axis" x1="0" y1="${h - 16}" x2="${w}" y2="${h - 16}"></line>
    <text x="4" y="${h - 3}">0</text><text x="${w - 60}" y="${h - 3}">${esc(format(max))}</text></svg>`;
}

// ---- the pipeline graph ----------------------------------------------

function graph(nodes) {
  const id = (n) => `${n.role}:${n.name}`;
  const byId = new Map(nodes.map((n) => [id(n), n]));
  const depth = new Map();
  const depthOf = (n, seen = new Set()) => {
    if (depth.has(id(n))) return depth.get(id(n));
    if (seen.has(id(n))) return 0;
    seen.add(id(n));
    let d = 0;
    for (const input of n.inputs) {
      const from = byId.get(input);
      if (from) d = Math.max(d, depthOf(from, seen) + 1);
    }
    depth.set(id(n), d);
    return d;
  };
  nodes.forEach((n) => depthOf(n));
  const columns = [];
  nodes.forEach((n) => (columns[depth.get(id(n))] ||= []).push(n));
  const bw = 170, bh = 54, gx = 60, gy = 18;
  const rows = Math.max(...columns.map((c) => c.length));
  const w = columns.length * (bw + gx) + 20, h = rows * (bh + gy) + 20;
  const place = new Map();
  columns.forEach((col, ci) => col.forEach((n, ri) => {
    const top = 10 + ri * (bh + gy) + ((rows - col.length) * (bh + gy)) / 2;
    place.set(id(n), { x: 10 + ci * (bw + gx), y: top });
  }));
  let edges = "", boxes = "";
  for (const n of nodes) {
    const to = place.get(id(n));
    for (const input of n.inputs) {
      const from = place.get(input);
      if (!from) continue;
      const x1 = from.x + bw, y1 = from.y + bh / 2, x2 = to.x - 4, y2 = to.y + bh / 2;
      edges += `<path d="M${x1},${y1} C${x1 + gx / 2},${y1} ${x2 - gx / 2},${y2} ${x2},${y2}"></path>`;
    }
    boxes += `<g class="node" data-node="${esc(id(n))}"><rect class="${n.role}" x="${to.x}" y="${to.y}" width="${bw}" height="${bh}"></rect>
      <text x="${to.x + 8}" y="${to.y + 17}">${esc(n.name)}</text>
      <text class="kind" x="${to.x + 8}" y="${to.y + 32}">${esc(n.role)} · ${esc(n.kind)}</text>
      <text class="rate" x="${to.x + 8}" y="${to.y + 47}">${fmtRate(n.records_per_second)} records/s</text></g>`;
  }
  return `<svg class="graph" viewBox="0 0 ${w} ${h}" style="max-width:${w}px">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#98a2b3"></path></marker></defs>
    ${edges}${boxes}</svg>`;
}

// ---- views -----------------------------------------------------------

async function overview() {
  const data = await getJson("/api/overview");
  const s = data.status;
  document.getElementById("pipeline").textContent = s.pipeline;
  const batches = data.batches;
  const interval = s.batch_interval_ms / 1000;
  const series = [
    ["Input rate", "records/s", batches.map((b) => b.input_records / interval), (v) => fmtRate(v) + "/s"],
    ["Scheduling delay", "", batches.map((b) => b.scheduling_delay_ms), fmtMs],
    ["Processing time", "", batches.map((b) => b.processing_ms), fmtMs],
    ["Total delay", "", batches.map((b) => b.total_delay_ms), fmtMs],
  ];
  const avg = (vs) => (vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : 0);
  const rows = series.map(([name, unit, values, format]) => `
    <div class="label">${name}<small>avg ${esc(format(avg(values)))}${unit ? " · " + unit : ""}</small></div>
    ${timeline(values, format)}${histogram(values, format)}`).join("");
  view().innerHTML = `
    <div class="summary">
      <span>Batch interval <b>${fmtMs(s.batch_interval_ms)}</b></span>
      <span>Running for <b>${fmtMs(s.uptime_ms)}</b></span>
      <span>Completed batches <b id="batches-completed">${fmtNum(s.batches)}</b></span>
      <span>Records received <b>${fmtNum(s.input_records)}</b></span>
      <span>Last batch <b>${s.last_batch ? esc(batchLabel(s.last_batch)) : "–"}</b></span>
    </div>
    <h2>Pipeline</h2>${graph(data.graph)}
    <h2>Last ${batches.length} batches</h2>
    <div class="charts">${rows}</div>
    <h2>Recent batches</h2>${batchTable(batches.slice(-10).reverse(), false)}`;
}

function batchLabel(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function versions(batch) {
  return (batch.streams || []).filter((s) => s.plugin)
    .map((s) => `${esc(s.stream)} v${s.version} <span class="muted">${esc(s.plugin)}@${esc(s.hash.slice(0, 8))}</span>`)
    .join("<br>");
}

function batchTable(batches, withVersions) {
  const rows = batches.map((b) => `
    <tr class="${b.status === "succeeded" ? "" : b.status}" data-batch-time="${b.batch_time}">
      <td><a href="#/batch/${b.batch_time}">${esc(b.time)}</a></td>
      <td class="num">${fmtNum(b.input_records)}</td>
      <td class="num">${fmtMs(b.scheduling_delay_ms)}</td>
      <td class="num">${fmtMs(b.processing_ms)}</td>
      <td class="num">${fmtMs(b.total_delay_ms)}</td>
      <td class="num">${fmtNum(b.output_records)}</td>
      <td class="status-${b.status}" title="${esc(b.failure || "")}">${b.status}</td>
      ${withVersions ? `<td>${versions(b)}</td>` : ""}
    </tr>`).join("");
  return `<table class="batches"><thead><tr><th>Batch time</th><th class="num">Input records</th>
    <th class="num">Scheduling delay</th><th class="num">Processing time</th><th class="num">Total delay</th>
    <th class="num">Output records</th><th>Status</th>${withVersions ? "<th>Versions</th>" : ""}</tr></thead>
    <tbody>${rows}</tbody></table>`;
}

async function batchesView() {
  const page = await getJson(`/api/batches?page=${batchesPage}&size=${PAGE_SIZE}`);
  const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
  batchesPage = Math.min(batchesPage, pages - 1);
  view().innerHTML = `
    <h2>Batches <span class="muted" id="batches-total">(${fmtNum(page.total)} kept)</span></h2>
    <div class="pager">
      <button id="newer" ${batchesPage === 0 ? "disabled" : ""}>Newer</button>
      <span>page ${batchesPage + 1} of ${pages}</span>
      <button id="older" ${batchesPage + 1 >= pages ? "disabled" : ""}>Older</button>
    </div>
    <div id="batches-table">${batchTable(page.batches, true)}</div>`;
  document.getElementById("newer").onclick = () => { batchesPage--; show(); };
  document.getElementById("older").onclick = () => { batchesPage++; show(); };
}

async function batchView(time) {
  const detail = await getJson(`/api/batches/${time}`);
  const b = detail.batch;
  const streams = b.streams.map((s) => {
    const partitions = s.partitions.map((p) => `
      <tr><td class="num">${p.partition}</td><td>${esc(p.phase || "")}</td>
      <td class="num">${fmtNum(p.records_in)}</td><td class="num">${fmtNum(p.records_out)}</td>
      <td class="num">${fmtMs(p.call_ms)}</td><td class="num">${p.attempts}</td>
      <td class="num">${p.failures}</td><td class="num">${fmtBytes(p.memory_peak_bytes)}</td>
      <td class="num">${p.fuel == null ? "off" : fmtNum(p.fuel)}</td></tr>`).join("");
    const shadow = s.shadow
      ? `<span>Shadow v${s.shadow.version}: <b>${s.shadow.differing_calls}</b> of ${s.shadow.calls} calls differ, ${s.shadow.failed_calls} failed</span>`
      : "";
    return `<section class="stream" data-stream="${esc(s.stream)}">
      <h3>${esc(s.stream)} ${s.plugin ? `<span class="muted">v${s.version} · ${esc(s.plugin)}@${esc(s.hash.slice(0, 12))}</span>` : ""}</h3>
      ${s.plugin && s.calls ? `<div class="muted replay">Run it again: <code>sluice replay PIPELINE.toml --stream ${esc(s.stream)} --batch ${b.batch_time}</code> (the last batches are kept: <code>keep_batches</code>)</div>` : ""}
      <div class="summary"><span>In <b>${fmtNum(s.records_in)}</b></span><span>Out <b>${fmtNum(s.records_out)}</b></span>
        <span>Calls <b>${s.calls}</b></span><span>Call time <b>${fmtMs(s.call_ms)}</b></span>
        <span>Retries <b>${s.retries}</b></span><span>Failed calls <b>${s.failed_calls}</b></span>
        <span>Skipped <b>${fmtNum(s.skipped_records)}</b></span><span>Dead letters <b>${fmtNum(s.dead_letter_records)}</b></span>${shadow}</div>
      ${partitions ? `<table class="partitions"><thead><tr><th class="num">Partition</th><th>Phase</th>
        <th class="num">Records in</th><th class="num">Records out</th><th class="num">Call time</th>
        <th class="num">Attempts</th><th class="num">Failures</th><th class="num">Memory peak</th><th class="num">Fuel</th></tr></thead>
        <tbody>${partitions}</tbody></table>` : `<p class="muted">No plugin calls kept for this stream in this batch.</p>`}
    </section>`;
  }).join("");
  const logs = detail.logs.map((e) => `
    <div class="log-head">${esc(e.stream)} · partition ${e.partition} · ${esc(e.output)}${e.attempt > 1 ? ` · attempt ${e.attempt}` : ""}${e.shadow ? " · shadow" : ""} · ${esc(e.plugin)}@${esc(e.hash.slice(0, 8))}</div>
    <pre class="log">${esc(e.text)}</pre>`).join("");
  view().innerHTML = `
    <h2>Batch ${esc(b.time)} <span class="status-${b.status}">${b.status}</span></h2>
    <div class="summary"><span>Input records <b>${fmtNum(b.input_records)}</b></span>
      <span>Output records <b>${fmtNum(b.output_records)}</b></span>
      <span>Scheduling delay <b>${fmtMs(b.scheduling_delay_ms)}</b></span>
      <span>Processing time <b>${fmtMs(b.processing_ms)}</b></span>
      <span>Total delay <b>${fmtMs(b.total_delay_ms)}</b></span></div>
    ${b.failure ? `<p class="error">${esc(b.failure)}</p>` : ""}
    ${streams}
    <h2>Plugin output</h2>
    <div id="logs">${logs || `<p class="muted">The plugins printed nothing in this batch (or it is older than the batches whose output is kept).</p>`}</div>`;
}

async function deploysView() {
  const streams = await getJson("/api/deploys");
  view().innerHTML = `<h2>Deploys</h2>` + streams.map(({ status, versions, events }) => {
    const rows = versions.map((v) => `<tr class="${v.state === "current" ? "current" : ""}">
      <td class="num">v${v.version}</td><td>${esc(v.plugin)}</td><td><code>${esc(v.sha256.slice(0, 12))}</code></td>
      <td>${esc(v.origin)}</td><td>${esc(v.state)}</td><td>${new Date(v.loaded_at).toLocaleString("en-GB")}</td>
      <td class="num">${fmtNum(v.batches)}</td><td class="num">${fmtNum(v.failed_batches)}</td>
      <td>${v.shadow ? `${v.shadow.differing_calls} of ${v.shadow.calls} calls differ` : ""}</td></tr>`).join("");
    const log = events.map((e) => `<li>${new Date(e.at).toLocaleTimeString("en-GB")} — ${esc(e.message)}</li>`).join("");
    return `<section class="deploys" data-stream="${esc(status.stream)}"><h3>${esc(status.stream)} <span class="muted">${esc(status.op)} · current v${status.current.version}${status.shadow ? ` · shadow v${status.shadow.version}` : ""}${status.rollback_to ? ` · can roll back to v${status.rollback_to}` : ""}</span></h3>
      <table><thead><tr><th class="num">Version</th><th>Plugin</th><th>sha256</th><th>Origin</th><th>State</th><th>Loaded</th>
      <th class="num">Batches</th><th class="num">Failed batches</th><th>Shadow comparison</th></tr></thead><tbody>${rows}</tbody></table>
      ${log ? `<ul class="events">${log}</ul>` : ""}</section>`;
  }).join("");
}

// ---- routing -----------------------------------------------------------

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const batch = hash.match(/^\/batch\/(-?\d+)$/);
  if (batch) return { name: "batches", draw: () => batchView(batch[1]), live: false };
  if (hash === "/batches") return { name: "batches", draw: batchesView, live: true };
  if (hash === "/deploys") return { name: "deploys", draw: deploysView, live: true };
  return { name: "overview", draw: overview, live: true };
}

async function show() {
  clearTimeout(timer);
  const current = route();
  document.querySelectorAll("header nav a").forEach((a) =>
    a.classList.toggle("active", a.dataset.view === current.name));
  try {
    await current.draw();
    stamp();
  } catch (e) {
    view().innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
  if (current.live) timer = setTimeout(show, REFRESH_MS);
}

window.addEventListener("hashchange", () => { if (!location.hash.startsWith("#/batches")) batchesPage = 0; show(); });
show();
