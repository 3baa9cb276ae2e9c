// firegrid duty console: the open queue, kept live from /api/v1/stream.
// When the stream is down the page says so and greys out: it never shows a
// stale queue as live.
"use strict";
const incidents = new Map();
let selected = null;
const $ = (s) => document.querySelector(s);

function fmtTime(t) { return t ? new Date(t).toLocaleTimeString() : ""; }
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
const sevRank = { critical: 0, major: 1, minor: 2, info: 3 };

function flags(f) {
  const out = [];
  if (f?.elderly_alone) out.push("独居老人");
  if (f?.bereaved) out.push("失独老人");
  if (f?.disabled) out.push("残疾人");
  return out.map((x) => `<span class="flag">${x}</span>`).join(" ");
}

function render() {
  const list = [...incidents.values()].filter((i) => i.status === "open")
    .sort((a, b) => (sevRank[a.severity] - sevRank[b.severity]) || (new Date(a.opened_at) - new Date(b.opened_at)));
  $("#count").textContent = `(${list.length})`;
  $("#empty").hidden = list.length > 0;
  $("#queue tbody").innerHTML = list.map((i) => `
    <tr class="sev-${esc(i.severity)} ${i.dispatchable ? "" : "nodispatch"} ${i.id === selected ? "selected" : ""}" data-id="${esc(i.id)}">
      <td>${esc(i.severity)}</td><td>${esc(i.type)}</td><td>${esc(i.site_name || i.site)}</td>
      <td>${esc(i.station_name || i.station)}</td><td>${flags(i.resident_flags)}</td>
      <td>${fmtTime(i.opened_at)}</td><td>${esc(i.stage)}</td><td>${i.devices.length} dev</td></tr>`).join("");
  for (const tr of document.querySelectorAll("#queue tbody tr")) tr.onclick = () => { selected = tr.dataset.id; render(); };
  renderDetail();
}

function renderDetail() {
  const i = incidents.get(selected);
  $("#detail-panel").hidden = !i;
  if (!i) return;
  $("#detail-title").textContent = `${i.type} · ${i.severity} · ${i.id}`;
  const rows = [
    ["Site", `${esc(i.site_name || i.site)} ${esc(i.address)}`],
    ["Devices", esc(i.devices.join(", "))],
    ["Zone / community", `${esc(i.zone)} / ${esc(i.community)}`],
    ["Station", esc(i.station_name || i.station)],
    ["Resident", flags(i.resident_flags) || "—"],
    ["Guardian 监护人", i.guardian?.name ? `${esc(i.guardian.name)} <a href="tel:${esc(i.guardian.phone)}">${esc(i.guardian.phone)}</a>` : "—"],
    ["Grid worker 网格员", i.grid_worker?.name ? `${esc(i.grid_worker.name)} ${esc(i.grid_worker.phone)}` : "—"],
    ["Location", `${i.location.lat.toFixed(5)}, ${i.location.lon.toFixed(5)}`],
    ["Opened", fmtTime(i.opened_at)], ["Acknowledged", fmtTime(i.acked_at) || "—"],
    ["On scene", fmtTime(i.arrived_at) || "—"], ["Resolved", fmtTime(i.resolved_at) || "—"],
  ];
  $("#detail").innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
  $("#steps").innerHTML = i.steps.map((s) => `<li>${fmtTime(s.at)} ${esc(s.action)} ${esc(s.device)} ${esc(s.by)} ${esc(s.note)}</li>`).join("");
  $("#signals").innerHTML = i.signals.map((s) => `<li>rule <b>${esc(s.rule)}</b> ${esc(s.action)} by ${esc(s.device)} message ${esc(s.message)} ${esc(s.detail)}</li>`).join("");
}

async function act(kind) {
  if (!selected) return;
  const body = kind === "resolve" ? { outcome: $("#outcome").value, note: $("#note").value } : {};
  const r = await fetch(`/api/v1/incidents/${encodeURIComponent(selected)}/${kind}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
  if (!r.ok) { alert((await r.json()).error || r.statusText); return; }
  upsert(await r.json());
}
for (const b of document.querySelectorAll("button[data-act]")) b.onclick = () => act(b.dataset.act);

function upsert(i) {
  const cur = incidents.get(i.id);
  if (!cur || cur.version <= i.version) incidents.set(i.id, i);
  render();
}

function setConn(up, text) {
  $("#conn").className = "conn " + (up ? "up" : "down");
  $("#conn").textContent = text;
  document.body.classList.toggle("stale", !up);
}

async function reload() {
  const r = await fetch("/api/v1/incidents?status=open", { credentials: "same-origin" });
  const j = await r.json();
  incidents.clear();
  for (const i of j.incidents) incidents.set(i.id, i);
  render();
}

function connect() {
  const es = new EventSource("/api/v1/stream");
  es.addEventListener("hello", async () => { await reload(); setConn(true, "live"); });
  es.addEventListener("incident", (e) => { const c = JSON.parse(e.data); upsert(c.incident); });
  es.onerror = () => { setConn(false, "disconnected — reconnecting…"); };
}
connect();
