// firegrid duty console: log-in, the live queue with countdowns to each
// deadline, an audible alarm for a new critical incident, the incident view
// (resident, guardian, recent device values, nearest hydrants), crew
// actions and a map drawn from the registry's GeoJSON. Everything is served
// by firegrid itself: no CDN, no tiles. When the stream is down the page
// says so and greys out: it never shows a stale queue as live.
"use strict";
const incidents = new Map();
let selected = null, me = null, es = null, geo = null, ctxCache = new Map(), soundOn = true, audio = null;
const $ = (s) => document.querySelector(s);
const sevRank = { critical: 0, major: 1, minor: 2, info: 3 };

function fmtTime(t) { return t ? new Date(t).toLocaleTimeString("zh-CN", { hour12: false }) : ""; }
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function flags(f) {
  const out = [];
  if (f?.elderly_alone) out.push("独居老人");
  if (f?.bereaved) out.push("失独老人");
  if (f?.disabled) out.push("残疾人");
  return out.map((x) => `<span class="flag">${x}</span>`).join(" ");
}

async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: "same-origin", ...opts,
    headers: { "Content-Type": "application/json", ...(opts.headers || {}) } });
  if (r.status === 401) { showLogin(); throw new Error("log in"); }
  return r;
}

// --- log-in -----------------------------------------------------------
function showLogin(msg) {
  $("#login").hidden = false; $("#app").hidden = true; $("#logout").hidden = true;
  $("#login-error").textContent = msg || "";
  if (es) { es.close(); es = null; }
  setConn(false, "logged out");
}
$("#login").onsubmit = async (e) => {
  e.preventDefault();
  audioInit(); // a user gesture: browsers allow sound from now on
  const r = await fetch("/api/v1/login", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: $("#username").value, password: $("#password").value }) });
  if (!r.ok) { $("#login-error").textContent = (await r.json()).error || r.statusText; return; }
  $("#password").value = "";
  start();
};
$("#logout").onclick = async () => { await fetch("/api/v1/logout", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" } }); showLogin(); };
$("#sound").onclick = () => { soundOn = !soundOn; audioInit(); $("#sound").textContent = soundOn ? "🔔 sound on" : "🔕 sound off"; };

// --- audible alarm (WebAudio; no sound file) ----------------------------
function audioInit() { if (!audio && window.AudioContext) audio = new AudioContext(); if (audio?.state === "suspended") audio.resume(); }
function beep() {
  if (!soundOn || !audio) return;
  const t = audio.currentTime;
  for (let i = 0; i < 3; i++) {
    const o = audio.createOscillator(), g = audio.createGain();
    o.type = "square"; o.frequency.value = i % 2 ? 660 : 880;
    g.gain.setValueAtTime(0.2, t + i * 0.35); g.gain.setValueAtTime(0, t + i * 0.35 + 0.25);
    o.connect(g).connect(audio.destination); o.start(t + i * 0.35); o.stop(t + i * 0.35 + 0.3);
  }
  document.body.dataset.alarms = String(Number(document.body.dataset.alarms || 0) + 1);
}

// --- queue ------------------------------------------------------------
function nextDeadline(i) {
  const d = i.deadlines;
  if (!d) return null;
  if (!i.acked_at && d.ack) return ["respond", d.ack];
  if (!i.arrived_at && d.arrive) return ["on scene", d.arrive];
  if (d.resolve) return ["handle", d.resolve];
  return null;
}
function countdown(i) {
  const n = nextDeadline(i);
  if (!n) return "";
  let s = Math.round((new Date(n[1]) - Date.now()) / 1000);
  const over = s < 0; s = Math.abs(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const txt = (h ? `${h}:${String(m).padStart(2, "0")}` : `${m}`) + `:${String(sec).padStart(2, "0")}`;
  return `<span class="due ${over ? "overdue" : ""}">${n[0]} ${over ? "overdue " : ""}${txt}</span>`;
}
function queue() {
  return [...incidents.values()].filter((i) => i.status === "open")
    .sort((a, b) => (sevRank[a.severity] - sevRank[b.severity]) || (new Date(a.opened_at) - new Date(b.opened_at)));
}
function render() {
  const list = queue();
  $("#count").textContent = `(${list.length})`;
  $("#empty").hidden = list.length > 0;
  $("#queue tbody").innerHTML = list.map((i) => `
    <tr class="sev-${esc(i.severity)} ${i.dispatchable ? "" : "nodispatch"} ${i.id === selected ? "selected" : ""}" data-id="${esc(i.id)}">
      <td>${esc(i.severity)}</td><td>${esc(i.type)}</td><td>${esc(i.site_name || i.site)}</td>
      <td>${esc(i.station_name || i.station)}${i.escalated_to?.length ? ` <small>→ ${esc(i.escalated_to.join(", "))}</small>` : ""}</td>
      <td>${flags(i.resident_flags)}</td><td>${fmtTime(i.opened_at)}</td><td class="stage">${esc(i.stage)}</td>
      <td class="countdown">${countdown(i)}</td></tr>`).join("");
  for (const tr of document.querySelectorAll("#queue tbody tr")) tr.onclick = () => { document.body.classList.add("detail-open"); select(tr.dataset.id); window.scrollTo(0, 0); };
  renderDetail();
  drawMap();
}
setInterval(() => {
  for (const tr of document.querySelectorAll("#queue tbody tr")) {
    const i = incidents.get(tr.dataset.id);
    if (i) tr.querySelector(".countdown").innerHTML = countdown(i);
  }
}, 1000);

async function select(id) {
  selected = id; render();
  try {
    const r = await api(`/api/v1/incidents/${encodeURIComponent(id)}/context`);
    if (r.ok) { ctxCache.set(id, await r.json()); renderDetail(); drawMap(); }
  } catch (e) { /* shown by the log-in form */ }
}

function renderDetail() {
  const i = incidents.get(selected);
  $("#detail-panel").hidden = !i;
  if (!i) return;
  $("#detail-title").textContent = `${i.type} · ${i.severity} · ${i.id}`;
  const d = i.deadlines || {};
  const rows = [
    ["Site", `${esc(i.site_name || i.site)}<br><small>${esc(i.address)}</small>`],
    ["Zone / community", `${esc(i.zone)} / ${esc(i.community)}`],
    ["Station", esc(i.station_name || i.station) + (i.escalated_to?.length ? ` · escalated to ${esc(i.escalated_to.join(", "))}` : "") + (i.center_at ? " · 119 called" : "")],
    ["Resident", flags(i.resident_flags) || "—"],
    ["Guardian 监护人", i.guardian?.phone ? `${esc(i.guardian.name)} <a class="guardian-phone" href="tel:${esc(i.guardian.phone)}">${esc(i.guardian.phone)}</a>` : "—"],
    ["Grid worker 网格员", i.grid_worker?.phone ? `${esc(i.grid_worker.name)} <a href="tel:${esc(i.grid_worker.phone)}">${esc(i.grid_worker.phone)}</a>` : "—"],
    ["Opened", fmtTime(i.opened_at)],
    ["Acknowledged", `<span id="acked-at" data-at="${esc(i.acked_at || "")}">${fmtTime(i.acked_at) || "—"}</span> <small>due ${fmtTime(d.ack)}</small>`],
    ["On scene", `${fmtTime(i.arrived_at) || "—"} <small>due ${fmtTime(d.arrive)}</small>`],
    ["Resolved", `${fmtTime(i.resolved_at) || "—"} <small>due ${fmtTime(d.resolve)}</small>`],
    ["Overdue", esc((i.overdue || []).join(", ")) || "—"],
  ];
  $("#detail").innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
  const c = ctxCache.get(i.id);
  $("#residents").innerHTML = c ? (c.residents.map((r) => `<li>${esc(r.name)}${r.age ? `, ${r.age}岁` : ""} ${flags(r.flags)} ${r.phone ? `<a href="tel:${esc(r.phone)}">${esc(r.phone)}</a>` : ""}${r.guardian?.phone ? ` · 监护人 ${esc(r.guardian.name)} ${esc(r.guardian.phone)}` : ""}</li>`).join("") || "<li>—</li>") : "<li class=muted>loading…</li>";
  $("#devices").innerHTML = c ? c.devices.map((dv) => `<li><b>${esc(dv.id)}</b> ${esc(dv.kind)} ${esc(dv.model)}: ${dv.recent?.length ? dv.recent.slice(-3).reverse().map((r) =>
    `${fmtTime(r.at)} ${esc(r.event)} ${Object.entries(r.values || {}).map(([k, v]) => `${esc(k)}=${v}`).join(" ")}`).join(" · ") : "<span class=muted>no readings since start</span>"}</li>`).join("") : "";
  $("#hydrants").innerHTML = c ? c.hydrants.map((h) => `<li><b>${esc(h.id)}</b> ${Math.round(h.distance_m)} m · ${h.pressure_mpa != null ? `${h.pressure_mpa.toFixed(2)} MPa at ${fmtTime(h.at)}` : "no reading"} · <span class="st-${esc(h.status)}">${esc(h.status)}</span></li>`).join("") : "";
  $("#steps").innerHTML = i.steps.map((s) => `<li>${fmtTime(s.at)} <b>${esc(s.action)}</b> ${esc(s.device)} ${esc(s.by)} ${esc(s.note)}</li>`).join("");
  $("#deliveries").innerHTML = (i.deliveries || []).map((x) => `<li>${esc(x.notifier)} → ${esc(x.target)} (${esc(x.event)}): <b>${esc(x.status)}</b> after ${x.attempts} attempt(s) ${esc(x.error)}</li>`).join("") || "<li class=muted>none</li>";
}

async function act(kind) {
  if (!selected) return;
  $("#action-error").textContent = "";
  const body = kind === "resolve" ? { outcome: $("#outcome").value, note: $("#note").value } : { note: $("#note").value };
  const r = await api(`/api/v1/incidents/${encodeURIComponent(selected)}/${kind}`, { method: "POST", body: JSON.stringify(body) });
  if (!r.ok) { $("#action-error").textContent = (await r.json()).error || r.statusText; return; }
  upsert(await r.json());
}
for (const b of document.querySelectorAll("button[data-act]")) b.onclick = () => act(b.dataset.act);
// On a phone the incident view replaces the queue; back shows the queue.
$("#back").onclick = () => { document.body.classList.remove("detail-open"); window.scrollTo(0, 0); };

function upsert(i) {
  const cur = incidents.get(i.id);
  if (!cur || cur.version <= i.version) incidents.set(i.id, i);
  if (!selected && i.status === "open") selected = i.id;
  render();
}

// --- map (SVG from /api/v1/map) ----------------------------------------
function drawMap() {
  if (!geo) return;
  const svg = $("#map"), W = 600, H = 400;
  let [x0, y0, x1, y1] = [180, 90, -180, -90];
  const pts = (g) => g.type === "Point" ? [g.coordinates] : g.coordinates.flat(2);
  for (const f of geo.features) if (f.properties.layer !== "device") for (const [x, y] of pts(f.geometry)) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
  const s = Math.min((W - 20) / ((x1 - x0) * k || 1), (H - 20) / ((y1 - y0) || 1));
  const P = ([x, y]) => [10 + (x - x0) * k * s, H - 10 - (y - y0) * s];
  const path = (g) => g.coordinates.map((poly) => poly.map((ring) => "M" + ring.map((c) => P(c).map((v) => v.toFixed(1)).join(",")).join("L") + "Z").join("")).join("");
  const sel = incidents.get(selected), near = new Set((ctxCache.get(selected)?.hydrants || []).map((h) => h.id));
  const myStation = me?.station;
  let out = "";
  for (const f of geo.features.filter((f) => f.properties.layer === "zone")) out += `<path class="zone ${f.properties.station === myStation ? "mine" : ""}" d="${path(f.geometry)}"><title>${esc(f.properties.name)}</title></path>`;
  for (const f of geo.features.filter((f) => f.properties.layer === "community")) out += `<path class="community" d="${path(f.geometry)}"><title>${esc(f.properties.name)}</title></path>`;
  for (const f of geo.features.filter((f) => f.properties.layer === "device")) {
    const [x, y] = P(f.geometry.coordinates), h = f.properties.kind === "hydrant";
    out += `<circle class="${h ? "hydrant" : "device"} ${near.has(f.properties.id) ? "near" : ""}" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${h ? (near.has(f.properties.id) ? 4 : 2.5) : 1.2}"><title>${esc(f.properties.id)}</title></circle>`;
  }
  for (const f of geo.features.filter((f) => f.properties.layer === "station")) {
    const [x, y] = P(f.geometry.coordinates);
    out += `<rect class="station" x="${(x - 4).toFixed(1)}" y="${(y - 4).toFixed(1)}" width="8" height="8"><title>${esc(f.properties.name)}</title></rect><text x="${(x + 6).toFixed(1)}" y="${(y + 3).toFixed(1)}">${esc(f.properties.id)}</text>`;
  }
  for (const i of queue()) {
    const [x, y] = P([i.location.lon, i.location.lat]);
    out += `<circle class="incident ${i === sel ? "selected" : ""}" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${i === sel ? 7 : 5}"><title>${esc(i.type)} ${esc(i.site_name)}</title></circle>`;
  }
  svg.innerHTML = out;
}

// --- connection -------------------------------------------------------
function setConn(up, text) {
  $("#conn").className = "conn " + (up ? "up" : "down");
  $("#conn").textContent = text;
  document.body.classList.toggle("stale", !up);
  $("#banner").hidden = up || !me;
}
async function reload() {
  const r = await api("/api/v1/incidents?status=open");
  const j = await r.json();
  incidents.clear();
  for (const i of j.incidents || []) incidents.set(i.id, i);
  if (selected && !incidents.has(selected)) selected = null;
  if (!selected && incidents.size) selected = queue()[0]?.id;
  render();
  if (selected) select(selected);
}
function connect() {
  if (es) es.close();
  es = new EventSource("/api/v1/stream");
  es.addEventListener("hello", async () => { try { await reload(); setConn(true, "live"); } catch (e) { setConn(false, "disconnected"); } });
  es.addEventListener("incident", (e) => {
    const c = JSON.parse(e.data);
    if (c.event === "opened" && c.incident.severity === "critical" && c.incident.dispatchable) {
      beep();
      setTimeout(() => document.querySelector(`tr[data-id="${CSS.escape(c.incident.id)}"]`)?.classList.add("flash"), 0);
    }
    upsert(c.incident);
    if (c.incident.id === selected && ["opened", "updated"].includes(c.event)) select(selected);
  });
  es.onerror = async () => {
    setConn(false, "disconnected — reconnecting…");
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (the server refused or is gone): try again,
      // and ask for a log-in if the session has ended.
      setTimeout(async () => { try { const r = await fetch("/api/v1/me", { credentials: "same-origin" }); if (r.status === 401) { showLogin("session ended"); return; } } catch (e) { /* still down */ } connect(); }, 3000);
    }
  };
}

async function start() {
  let r;
  try { r = await fetch("/api/v1/me", { credentials: "same-origin" }); } catch (e) { setConn(false, "disconnected"); setTimeout(start, 3000); return; }
  if (r.status === 401) { showLogin(); return; }
  me = (await r.json()).user;
  // The people's half of the loop works in the hazards view.
  if (["grid_worker", "community", "property"].includes(me.role)) { location.replace("hazards.html"); return; }
  $("#user").textContent = `${me.username} · ${me.role}${me.station ? " · " + me.station : ""}`;
  $("#hazards-link").hidden = me.role === "admin";
  $("#login").hidden = true; $("#app").hidden = false; $("#logout").hidden = false;
  if (!geo) { const g = await api("/api/v1/map"); if (g.ok) geo = await g.json(); }
  // A role that works no incidents (the administrator) is told so
  // instead of reconnecting forever.
  const probe = await fetch("/api/v1/incidents?status=open&limit=1", { credentials: "same-origin" });
  if (probe.status === 403) { setConn(false, `the ${me.role} role works no incidents here; it uses the API`); return; }
  connect();
}
start();

// --- what the duty crew must know about firegrid itself ------------------
// /healthz lists what does not hold (the journal cannot write, so devices'
// messages are refused; the database does not answer, so incidents are
// delayed): shown above the queue until it holds again.
async function checkHealth() {
  let problems = [];
  try {
    const r = await fetch("/healthz", { credentials: "same-origin" });
    problems = (await r.json()).problems || [];
  } catch (e) {
    problems = [{ check: "console", detail: "firegrid does not answer: " + e.message }];
  }
  const el = $("#health");
  el.hidden = problems.length === 0;
  el.innerHTML = problems.length ? "firegrid is degraded 系统异常:<ul>" +
    problems.map((p) => `<li data-check="${esc(p.check)}">${esc(p.check)}: ${esc(p.detail)}</li>`).join("") + "</ul>" : "";
}
checkHealth();
setInterval(checkHealth, 3000);
