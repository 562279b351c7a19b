// rootwalk's dashboard: no build step, no library. Reads /api/* (JSON) and /api/stream
// (server-sent events, one "tick" a second). Everything from the server is shown with
// textContent, never as HTML: query names are whatever clients sent.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token");
const SVG = "http://www.w3.org/2000/svg";
const state = { history: { second: [], ten: [] }, paused: false, held: [], tail: [] };

function url(path, params) {
  const u = new URL(path, location.href);
  for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
  if (TOKEN) u.searchParams.set("token", TOKEN);
  return u.toString();
}
async function getJSON(path, params) {
  const r = await fetch(url(path, params), { cache: "no-store" });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  return { ok: r.ok, status: r.status, body };
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const kid of kids) e.append(kid instanceof Node ? kid : document.createTextNode(String(kid ?? "")));
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
const fmt = (n) => n == null ? "–" : Number(n).toLocaleString("en-US");
const ms = (n) => n == null ? "–" : (n < 1 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));

// -- summary, bars, latency ------------------------------------------------------------------
function showSummary(s) {
  if (!s || s.queries === undefined) return;
  document.getElementById("qps").textContent = fmt(s.qps);
  document.getElementById("hit-ratio").textContent =
    s.hit_ratio == null ? "–" : (100 * s.hit_ratio).toFixed(1) + " %";
  document.getElementById("queries-total").textContent = fmt(s.queries);
  document.getElementById("blocked-total").textContent = fmt(s.blocked);
  document.getElementById("cache-entries").textContent = fmt(s.cache_entries);
  document.getElementById("upstream-total").textContent = fmt(s.upstream_queries);
  const up = s.uptime || 0;
  document.getElementById("uptime").textContent =
    `up ${Math.floor(up / 3600)} h ${Math.floor(up / 60) % 60} min`;
  bars("rcodes", s.rcodes);
  bars("types", s.types);
  for (const tr of document.querySelectorAll("#latency tbody tr")) {
    const p = (s.latency || {})[tr.dataset.k] || {};
    const tds = tr.querySelectorAll("td");
    tds[0].textContent = ms(p.p50); tds[1].textContent = ms(p.p90); tds[2].textContent = ms(p.p99);
  }
}
function bars(id, map) {
  const box = document.getElementById(id);
  const entries = Object.entries(map || {});
  const max = Math.max(1, ...entries.map(([, v]) => v));
  box.replaceChildren(...entries.map(([k, v]) => {
    const fill = el("div", { class: "fill" });
    fill.style.width = (100 * v / max) + "%";
    return el("div", { class: "bar", "data-k": k }, el("span", {}, k), fill, el("span", { class: "n" }, fmt(v)));
  }));
}

// -- the time chart ---------------------------------------------------------------------------
const SERIES = [["queries", "#2563eb"], ["hit", "#16a34a"], ["miss", "#f59e0b"], ["blocked", "#dc2626"]];
function drawChart() {
  const range = document.getElementById("chart-range").value;
  const pts = state.history[range] || [];
  const box = document.getElementById("chart");
  const W = 900, H = 220, L = 46, B = 20;
  const span = range === "ten" ? 3600 : 600;
  const now = pts.length ? pts[pts.length - 1].t : Date.now() / 1000;
  const rate = (p, k) => p[k] / (p.seconds || 1);
  const max = Math.max(1, ...pts.map((p) => rate(p, "queries")));
  const x = (t) => L + (W - L - 4) * (1 - (now - t) / span);
  const y = (v) => H - B - (H - B - 8) * v / max;
  const kids = [];
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4;
    kids.push(svg("line", { x1: L, x2: W, y1: y(v), y2: y(v), stroke: "#e5e7eb" }));
    kids.push(svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#6b7280" }, v < 10 ? v.toFixed(1) : Math.round(v)));
  }
  for (const m of range === "ten" ? [60, 45, 30, 15, 0] : [10, 8, 6, 4, 2, 0]) {
    kids.push(svg("text", { x: x(now - m * 60), y: H - 4, "text-anchor": m ? "middle" : "end", "font-size": 11, fill: "#6b7280" }, m ? `-${m} min` : "now"));
  }
  for (const [k, color] of SERIES) {
    const d = pts.filter((p) => now - p.t <= span)
      .map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(rate(p, k)).toFixed(1)}`).join("");
    if (d) kids.push(svg("path", { d, fill: "none", stroke: color, "stroke-width": 1.6, "data-series": k }));
  }
  box.replaceChildren(...kids);
}
function addPoint(p) {
  if (!p) return;
  const sec = state.history.second;
  sec.push(p);
  if (sec.length > 600) sec.shift();
  // The 10-s series is rebuilt from the server now and then; in between, fold seconds in.
  const ten = state.history.ten;
  const last = ten[ten.length - 1];
  if (last && last.open && last.seconds < 10) {
    for (const k of ["queries", "hit", "miss", "blocked", "nxdomain", "servfail", "upstream"]) last[k] += p[k];
    last.seconds += 1; last.t = p.t;
  } else {
    ten.push({ ...p, open: true });
    if (ten.length > 360) ten.shift();
  }
}

// -- top lists and upstreams (polled: they change slowly) --------------------------------------
async function refreshTop() {
  const w = document.getElementById("top-window").value;
  const r = await getJSON("/api/top", { window: w, n: 15 });
  if (!r.ok) return;
  for (const [id, key] of [["top-names", "names"], ["top-clients", "clients"], ["top-blocked", "blocked"]]) {
    const list = r.body[key];
    const rows = list.items.map((i) => el("tr", { "data-key": i.key }, el("td", {}, i.key),
      el("td", { class: "num" }, fmt(i.count)), el("td", { class: "num muted" }, i.error ? "±" + fmt(i.error) : "")));
    if (!rows.length) rows.push(el("tr", {}, el("td", { class: "muted" }, "nothing yet")));
    document.querySelector(`#${id} tbody`).replaceChildren(...rows);
  }
}
async function refreshUpstreams() {
  const r = await getJSON("/api/upstreams");
  if (!r.ok) return;
  const rows = r.body.servers.map((s) => el("tr", { "data-address": s.address, "data-zone": s.zone ?? "",
      "data-server": s.server ?? "", "data-backed-off": String(s.backed_off) },
    el("td", {}, s.zone ?? "?"), el("td", {}, s.server ?? "?"), el("td", {}, s.address),
    el("td", { class: "num" }, s.srtt_ms == null ? "–" : ms(s.srtt_ms) + " ms"),
    el("td", { class: "num" }, s.timeouts),
    el("td", {}, s.backed_off ? `yes (${s.backoff_left} s)` : s.broken ? "broken" : "no"),
    el("td", {}, s.lame_for.join(" ") || "–")));
  if (!rows.length) rows.push(el("tr", {}, el("td", { class: "muted" }, "no upstream server asked yet")));
  document.querySelector("#upstreams tbody").replaceChildren(...rows);
}

// -- the live tail -----------------------------------------------------------------------------
function tailMatches(row) {
  const f = document.getElementById("tail-filter").value.trim().toLowerCase();
  if (!f) return true;
  return [row.client, row.name, row.type, row.rcode, row.how].some((v) => String(v).toLowerCase().includes(f));
}
function tailRow(row) {
  const t = new Date(row.t * 1000).toLocaleTimeString("en-GB");
  const tr = el("tr", { "data-name": row.name, "data-type": row.type, "data-how": row.how },
    el("td", {}, t), el("td", {}, row.client), el("td", {}, row.name), el("td", {}, row.type),
    el("td", {}, row.rcode), el("td", { class: "num" }, ms(row.ms)), el("td", {}, row.how));
  tr.addEventListener("click", () => explain(row.name, row.type));
  return tr;
}
function renderTail() {
  const rows = state.tail.filter(tailMatches).slice(-200).reverse();
  document.querySelector("#tail tbody").replaceChildren(...rows.map(tailRow));
  document.getElementById("tail-held").textContent =
    state.paused ? `paused, ${state.held.length} new` : "";
}
function addTail(rows) {
  if (!rows || !rows.length) return;
  if (state.paused) {  // rows stay still while paused (to read, or to click one)
    state.held.push(...rows); state.held = state.held.slice(-500);
    document.getElementById("tail-held").textContent = `paused, ${state.held.length} new`;
    return;
  }
  state.tail.push(...rows);
  state.tail = state.tail.slice(-500);
  renderTail();
}

// -- walks: the resolve box and a click in the tail -------------------------------------------
const KIND_TEXT = { referral: "referral", answer: "answer", cname: "CNAME", nodata: "no data",
  nxdomain: "NXDOMAIN", lame: "lame", timeout: "timeout", error: "error", unreachable: "unreachable",
  mismatch: "mismatched reply", malformed: "malformed reply", "no-cut": "no zone cut" };
function drawWalk(w) {
  const hops = w.hops || [];
  const status = document.getElementById("walk-status");
  status.textContent = `${w.name} ${w.type}: ${w.rcode}` +
    (w.elapsed_ms != null ? `, ${ms(w.elapsed_ms)} ms` : "") + (w.from_cache ? ", from the cache" : "");
  // Lanes: the client, rootwalk, then each server in the order first asked.
  const lanes = [{ key: "client", title: "you", sub: "client" }, { key: "resolver", title: "rootwalk", sub: w.resolver || "resolver" }];
  const laneOf = {};
  for (const h of hops) {
    if (!h.asked) continue;
    const key = `${h.server}|${h.address}`;
    if (!(key in laneOf)) { laneOf[key] = lanes.length; lanes.push({ key, title: h.zone === "." ? "root (.)" : h.zone ?? "", sub: `${h.server ?? "?"}`, addr: h.address }); }
  }
  const LW = 170, top = 70, step = 34;
  const W = Math.max(700, lanes.length * LW);
  const steps = [];
  let y = top;
  const xs = (i) => LW / 2 + i * LW;
  const kids = [svg("defs", {})];
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#374151" }));
  kids[0].append(marker);
  let n = 0;
  const arrow = (a, b, label, cls) => {
    n += 1;
    const dashed = cls === "timeout" || cls === "back";
    kids.push(svg("line", { x1: xs(a), x2: xs(b) + (b > a ? -6 : 6), y1: y, y2: y, stroke: cls === "timeout" || cls === "lame" ? "#dc2626" : "#374151",
      "stroke-width": 1.4, "stroke-dasharray": dashed ? "5,4" : "", "marker-end": "url(#arrow)" }));
    kids.push(svg("text", { x: (xs(a) + xs(b)) / 2, y: y - 5, "text-anchor": "middle", "font-size": 11.5 }, `${n}. ${label}`));
    y += step;
  };
  const note = (lane, label, color) => {
    kids.push(svg("rect", { x: xs(lane) + 8, y: y - 14, width: Math.min(LW * 2.4, 8 + 6.6 * label.length), height: 20, rx: 4, fill: color, opacity: 0.9 }));
    kids.push(svg("text", { x: xs(lane) + 14, y: y, "font-size": 11.5 }, label));
    y += step - 6;
  };
  arrow(0, 1, `${w.name} ${w.type}?`, "ask");
  for (const h of hops) {
    if (h.kind === "cache") note(1, `cache: ${h.qname} ${h.qtype} → ${h.detail}`, "#dcfce7");
    else if (h.kind === "start") note(1, `${h.depth ? "sub-walk" : "walk"} for ${h.qname} ${h.qtype} from ${h.zone}`, "#e0e7ff");
    else if (h.kind === "subquery") note(1, `glueless: ${h.detail}`, "#fef3c7");
    else if (h.kind === "skipped") note(1, `not asked ${h.server ?? ""} [${h.address}]: ${h.detail}`, "#f3f4f6");
    // A link of the chain of trust (DS, DNSKEY, signature, denial proof); the verdict on a
    // response is shown on its arrow instead.
    else if (h.kind === "dnssec" && !/^(secure|insecure|bogus|indeterminate):/.test(h.detail)) note(1, `DNSSEC ${h.detail}`, h.detail.includes("bogus") ? "#fee2e2" : "#ede9fe");
    else if (h.asked) {
      const lane = laneOf[`${h.server}|${h.address}`];
      arrow(1, lane, `${h.qname} ${h.qtype}?${h.tcp ? " (TCP)" : ""}`, "ask");
      const what = KIND_TEXT[h.kind] || h.kind;
      arrow(lane, 1, h.kind === "timeout" ? "timeout" : `${what}${h.rtt_ms != null ? ", " + ms(h.rtt_ms) + " ms" : ""}${h.dnssec ? ", " + h.dnssec : ""}`, h.kind === "timeout" ? "timeout" : h.kind === "lame" ? "lame" : "back");
    }
  }
  arrow(1, 0, `${w.rcode}${w.answer ? ", " + w.answer.length + " record(s)" : ""}`, "back");
  const H = y + 10;
  lanes.forEach((l, i) => {
    kids.push(svg("line", { x1: xs(i), x2: xs(i), y1: 50, y2: H - 10, stroke: "#cbd5e1", "stroke-width": 1 }));
    kids.push(svg("text", { x: xs(i), y: 16, "text-anchor": "middle", "font-weight": 600, "font-size": 13 }, l.title));
    kids.push(svg("text", { x: xs(i), y: 31, "text-anchor": "middle", "font-size": 11 }, l.sub));
    if (l.addr) kids.push(svg("text", { x: xs(i), y: 45, "text-anchor": "middle", "font-size": 11, fill: "#6b7280" }, l.addr));
  });
  const box = document.getElementById("walk-svg");
  box.setAttribute("viewBox", `0 0 ${W} ${H}`);
  box.setAttribute("height", H);
  box.replaceChildren(...kids);
  // The same story as a table (and for tests: data-* per hop).
  let i = 0;
  const rows = hops.map((h) => el("tr", { class: `hop hop-${h.kind}`, "data-kind": h.kind, "data-server": h.server ?? "",
      "data-address": h.address ?? "", "data-zone": h.zone ?? "" },
    el("td", {}, ++i), el("td", {}, h.depth ? `↳ ${h.kind}` : h.kind), el("td", {}, h.zone ?? ""),
    el("td", {}, h.server ?? ""), el("td", {}, h.address ?? ""),
    el("td", {}, h.asked ? `${h.qname} ${h.qtype}` : h.kind === "cache" ? `${h.qname} ${h.qtype}` : ""),
    el("td", {}, h.asked ? (KIND_TEXT[h.kind] || h.kind) + (h.detail ? ": " + h.detail : "") : h.detail),
    el("td", { class: "num" }, h.rtt_ms == null ? "" : ms(h.rtt_ms) + " ms"), el("td", {}, h.dnssec ?? "–")));
  document.querySelector("#walk-hops tbody").replaceChildren(...rows);
  document.getElementById("walk-answer").textContent =
    [...(w.answer || []), ...(w.authority || []).map((l) => "; authority: " + l),
     ...(w.ede || []).map((e) => `; extended error ${e.code}: ${e.text}`)].join("\n") || "(no records)";
}
// Steps 8 and 9 of the seed documents, for an answer on this machine (the lab's web server):
// the server asks it (GET /api/browse, loopback only) and the page's title comes back.
function offerBrowse(w) {
  const box = document.getElementById("walk-browse");
  const m = (w.answer || []).map((l) => l.match(/\s(?:IN\s+)?(A|AAAA)\s+(\S+)$/)).find((x) => x);
  const addr = m && m[2];
  box.hidden = !addr || !(addr.startsWith("127.") || addr === "::1");
  if (box.hidden) return;
  box.dataset.address = addr;
  box.dataset.host = w.name;
  document.getElementById("browse-what").textContent =
    `steps 8 and 9: the browser asks the web server at ${addr}`;
  document.getElementById("browse-result").textContent = "";
}
async function browse() {
  const box = document.getElementById("walk-browse");
  const port = document.getElementById("browse-port").value;
  const { address, host } = box.dataset;
  const out = document.getElementById("browse-result");
  out.textContent = `asking ${address}:${port}…`;
  const r = await getJSON("/api/browse", { address, port, host });
  if (!r.ok) { out.textContent = (r.body && r.body.error) || `failed (HTTP ${r.status})`; return; }
  out.textContent = `8. browser -> web server ${address}:${port}: GET / (Host: ${host})\n` +
    `9. web server -> browser: ${r.body.status}, title: ${r.body.title} (${ms(r.body.ms)} ms)`;
}
function clearWalk(message) {
  document.getElementById("walk-browse").hidden = true;
  document.getElementById("walk-status").textContent = message;
  document.getElementById("walk-svg").replaceChildren();
  document.querySelector("#walk-hops tbody").replaceChildren();
  document.getElementById("walk-answer").textContent = "";
}
async function resolve(ev) {
  ev.preventDefault();
  const name = document.getElementById("resolve-name").value.trim();
  const type = document.getElementById("resolve-type").value;
  if (!name) return;
  clearWalk(`walking ${name} ${type}…`);
  const r = await getJSON("/api/resolve", { name, type });
  if (!r.ok) { clearWalk((r.body && r.body.error) || `failed (HTTP ${r.status})`); return; }
  drawWalk(r.body);
  offerBrowse(r.body);
}
async function explain(name, type) {
  document.getElementById("resolve-name").value = name;
  clearWalk(`looking up how ${name} ${type} was answered…`);
  const r = await getJSON("/api/explain", { name, type });
  const hops = r.ok && r.body && (r.body.hops || (r.body.walk && r.body.walk.steps));
  if (hops && hops.length) {
    drawWalk({ name, type, rcode: r.body.rcode || "", hops, answer: r.body.answer, resolver: "" });
    if (r.body.summary) document.getElementById("walk-status").textContent += " — " + r.body.summary;
    return;
  }
  const why = r.ok && r.body ? (r.body.summary || r.body.source || "") : "";
  clearWalk(`${name} ${type}: no walk recorded${why ? " (" + why + ")" : ""}`);
}

// -- the stream -------------------------------------------------------------------------------
function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource(url("/api/stream"));
  es.addEventListener("open", () => { conn.textContent = "live"; conn.className = "conn on"; });
  es.addEventListener("error", () => { conn.textContent = "reconnecting…"; conn.className = "conn off"; });
  es.addEventListener("tick", (e) => {
    const msg = JSON.parse(e.data);
    showSummary(msg.summary);
    addPoint(msg.point);
    addTail(msg.tail);
    drawChart();
  });
}

async function start() {
  document.getElementById("resolve-form").addEventListener("submit", resolve);
  document.getElementById("browse-go").addEventListener("click", browse);
  document.getElementById("chart-range").addEventListener("change", drawChart);
  document.getElementById("top-window").addEventListener("change", refreshTop);
  document.getElementById("tail-filter").addEventListener("input", renderTail);
  document.getElementById("tail-pause").addEventListener("click", (e) => {
    state.paused = !state.paused;
    e.target.textContent = state.paused ? "resume" : "pause";
    if (!state.paused) { state.tail.push(...state.held); state.held = []; state.tail = state.tail.slice(-500); }
    renderTail();
  });
  const [h, s, t] = await Promise.all([getJSON("/api/history"), getJSON("/api/summary"), getJSON("/api/tail")]);
  if (h.ok) state.history = h.body;
  if (s.ok) showSummary(s.body);
  if (t.ok) addTail(t.body.rows);
  drawChart();
  connect();
  refreshTop(); refreshUpstreams();
  setInterval(refreshTop, 5000);
  setInterval(refreshUpstreams, 5000);
  setInterval(async () => { const r = await getJSON("/api/history"); if (r.ok) { state.history = r.body; drawChart(); } }, 60000);
}
start();
