// firegrid hazards view: the people's half of the closed loop, for a
// grid worker on a phone and a community's desk alike. Report a hazard
// with photos, work it through its steps (register, dispatch, rectify,
// verify, close; reject, reopen, hand over), check in the inspection
// rounds due, and get the three lists. Every file is served by firegrid:
// no CDN. The server decides who may do what; the page only offers what
// the role may.
"use strict";
const $ = (s) => document.querySelector(s);
const $$ = (s) => [...document.querySelectorAll(s)];
let me = null, auth = true, categories = [], kinds = [], plans = [], current = null, reportRef = null, here = null;

const roles = {
  report: ["crew", "subdistrict", "grid_worker", "community", "property"],
  desk: ["subdistrict", "community"],
  rectify: ["subdistrict", "grid_worker", "community", "property"],
  verify: ["subdistrict", "grid_worker", "community"],
  handover: ["subdistrict"],
  rounds: ["subdistrict", "grid_worker", "community", "property"],
  lists: ["center119", "subdistrict", "community", "grid_worker"],
};
const may = (what) => !auth || roles[what].includes(me.role);

function esc(s) { return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function fmt(t) { return t ? new Date(t).toLocaleString("zh-CN", { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false }) : ""; }
function ref() { return window.crypto?.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`; }

async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: "same-origin", ...opts, headers: { "Content-Type": "application/json", ...(opts.headers || {}) } });
  if (r.status === 401) { showLogin("please log in again"); throw new Error("log in"); }
  return r;
}
async function errorOf(r) { try { return (await r.json()).error || r.statusText; } catch (e) { return r.statusText; } }
function flash(msg) { const f = $("#flash"); f.textContent = msg; f.hidden = false; clearTimeout(flash.t); flash.t = setTimeout(() => { f.hidden = true; }, 6000); }

// --- log-in ---------------------------------------------------------------
function showLogin(msg) {
  $("#login").hidden = false; $("#app").hidden = true; $("#logout").hidden = true;
  $("#login-error").textContent = msg || "";
}
$("#login").onsubmit = async (e) => {
  e.preventDefault();
  const r = await fetch("/api/v1/login", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: $("#username").value, password: $("#password").value }) });
  if (!r.ok) { $("#login-error").textContent = await errorOf(r); return; }
  $("#password").value = "";
  start();
};
$("#logout").onclick = async () => { await fetch("/api/v1/logout", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" } }); showLogin(); };

// --- tabs -----------------------------------------------------------------
function tab(name) {
  for (const b of $$(".tabs button")) b.classList.toggle("on", b.dataset.tab === name);
  for (const s of $$(".tab")) s.hidden = s.id !== "tab-" + name;
  if (name === "list") loadHazards();
  if (name === "rounds") loadRounds();
  window.scrollTo(0, 0);
}
for (const b of $$(".tabs button")) b.onclick = () => tab(b.dataset.tab);

// --- the list ---------------------------------------------------------------
function deadline(h) {
  if (h.status === "closed" || h.status === "rejected") return "";
  let label = "", at = null;
  if (!h.dispatched_at && h.respond_by) { label = "派遣期限 respond by"; at = h.respond_by; }
  else if (h.status === "dispatched" && h.rectify_by) { label = "整改期限 rectify by"; at = h.rectify_by; }
  if (!at) return "";
  const late = new Date(at) < Date.now();
  return `${late ? '<span class="badge-overdue">逾期 overdue</span> ' : ""}${label} ${fmt(at)}`;
}
function isLate(h) { return /overdue/.test(deadline(h)); }
function placeOf(h) { return [h.site_name, h.address].filter((x, i, a) => x && a.indexOf(x) === i).join(" · ") || `${h.location.lon.toFixed(5)},${h.location.lat.toFixed(5)}`; }

async function loadHazards() {
  const st = $("#f-status").value, cat = $("#f-category").value;
  const q = new URLSearchParams({ status: st === "overdue" ? "open" : st, limit: "500" });
  if (st === "overdue") q.set("overdue", "true");
  if (cat) q.set("category", cat);
  let list = [];
  try { const r = await api("/api/v1/hazards?" + q); if (r.ok) list = (await r.json()).hazards; } catch (e) { return; }
  $("#hazards-empty").hidden = list.length > 0;
  $("#hazards").innerHTML = list.map((h) => `
    <li data-id="${esc(h.id)}" class="${h.serious ? "serious" : ""} ${isLate(h) ? "overdue" : ""}">
      <div class="top"><span class="what">${esc(h.category_name || h.category)}</span><span class="status ${esc(h.status)}">${esc(h.status)}</span></div>
      <div class="where">${esc(placeOf(h))}</div>
      <div class="desc">${esc(h.description).slice(0, 120)}</div>
      <div class="due">${deadline(h)} ${h.supervision?.length ? `<small>督办 ${esc(h.supervision.join("→"))}</small>` : ""}</div>
    </li>`).join("");
  for (const li of $$("#hazards li")) li.onclick = () => openHazard(li.dataset.id);
}
$("#f-status").onchange = loadHazards;
$("#f-category").onchange = loadHazards;

// --- one hazard -------------------------------------------------------------
async function openHazard(id) {
  const r = await api("/api/v1/hazards/" + encodeURIComponent(id));
  if (!r.ok) { flash(await errorOf(r)); return; }
  current = await r.json();
  for (const s of $$(".tab")) s.hidden = s.id !== "tab-hazard";
  for (const b of $$(".tabs button")) b.classList.toggle("on", b.dataset.tab === "list");
  renderHazard();
  window.scrollTo(0, 0);
}
$("#hz-back").onclick = () => tab("list");

function renderHazard() {
  const h = current;
  $("#hz-title").innerHTML = `${esc(h.category_name || h.category)} <span class="status ${esc(h.status)}">${esc(h.status)}</span>`;
  const rows = [
    ["编号 id", esc(h.id)],
    ["地点 place", esc(placeOf(h)) + `<br><small>${esc(h.zone)} / ${esc(h.community)}</small>`],
    ["描述 description", esc(h.description)],
    ["来源 source", esc(h.source) + (h.reporter?.name || h.reporter?.phone ? ` · ${esc(h.reporter.name)} ${h.reporter.phone ? `<a href="tel:${esc(h.reporter.phone)}">${esc(h.reporter.phone)}</a>` : ""}` : "") +
      (h.order ? ` · 工单 ${esc(h.order.channel)} ${esc(h.order.id)}` : "") + (h.incident ? ` · 设备工单 ${esc(h.incident)}` : "")],
    ["上报 reported", `${fmt(h.reported_at)} ${esc(h.reported_by)}`],
    ["期限 deadline", deadline(h) || "—"],
    ["整改责任人 responsible", h.responsible ? `${esc(h.responsible.kind)} · ${esc(h.responsible.name)} ${h.responsible.phone ? `<a href="tel:${esc(h.responsible.phone)}">${esc(h.responsible.phone)}</a>` : ""}` : "—"],
    ["网格员 grid worker", h.grid_worker?.phone ? `${esc(h.grid_worker.name)} <a href="tel:${esc(h.grid_worker.phone)}">${esc(h.grid_worker.phone)}</a>` : "—"],
    ["督办 supervision", esc((h.supervision || []).join(" → ")) || "—"],
  ];
  if (h.handed_over_to) rows.push(["移交 handed over", esc(h.handed_over_to)]);
  $("#hz-detail").innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
  $("#hz-photos").innerHTML = (h.photos || []).map((p) => `<a href="/api/v1/photos/${esc(p.id)}" target="_blank"><img src="/api/v1/photos/${esc(p.id)}" alt="${esc(p.step)}" title="${esc(p.step)} ${esc(p.by)}"></a>`).join("");
  $("#hz-steps").innerHTML = h.steps.map((s) => `<li>${fmt(s.at)} <b>${esc(s.action)}</b> ${esc(s.by)} ${s.to ? "→ " + esc(s.to) : ""} ${esc(s.note)} ${s.photos?.length ? `📷${s.photos.length}` : ""}</li>`).join("");
  const open = h.status !== "closed" && h.status !== "rejected";
  const acts = [];
  const add = (step, label, role, form) => { if (may(role)) acts.push(`<button type="button" data-step="${step}" data-form="${form || ""}">${label}</button>`); };
  switch (h.status) {
    case "reported": add("register", "立案 register", "desk"); add("reject", "不予立案 reject", "desk", "note"); break;
    case "registered": add("dispatch", "派遣 dispatch", "desk", "dispatch"); add("reject", "不予立案 reject", "desk", "note"); break;
    case "dispatched": add("rectify", "已整改 rectified", "rectify", "rectify"); add("deadline", "延期 move deadline", "desk", "deadline"); break;
    case "rectified": add("verify", "核查通过 verified", "verify"); add("verify-fail", "核查未通过 not fixed", "verify", "note"); break;
    case "verified": add("close", "销号 close", "desk"); break;
    default: add("reopen", "回头看 reopen", "desk", "note");
  }
  if (open) add("handover", "移交 hand over", "handover", "handover");
  $("#hz-actions").innerHTML = acts.join("");
  $("#hz-form").hidden = true;
  $("#hz-error").textContent = "";
  for (const b of $$("#hz-actions button")) b.onclick = () => (b.dataset.form ? showForm(b.dataset.step, b.dataset.form, b.textContent) : step(b.dataset.step, {}));
}

function showForm(stepName, form, label) {
  const f = $("#hz-form");
  const note = (ph) => `<label>说明 note <textarea name="note" rows="2" placeholder="${ph}" ${form === "note" || form === "deadline" ? "required" : ""}></textarea></label>`;
  let html = "";
  switch (form) {
    case "dispatch":
      html = `<label>责任方 who must fix it <select name="kind">${kinds.map((k) => `<option value="${esc(k)}">${esc(k)}</option>`).join("")}</select></label>
        <label>名称 name <input name="name" required placeholder="如：福寿街物业"></label>
        <label>电话 phone <input name="phone" type="tel"></label>
        <label>整改期限 deadline (默认按类别 default from the category) <input name="deadline" type="datetime-local"></label>` + note("");
      break;
    case "deadline": html = `<label>新期限 new deadline <input name="deadline" type="datetime-local" required></label>` + note("延期理由 reason"); break;
    case "rectify": html = note("做了什么 what was done") + `<label>照片 photos <input name="photos" type="file" accept="image/*" capture="environment" multiple></label>`; break;
    case "handover": html = `<label>移交给 to <input name="to" required placeholder="如：德化街派出所"></label>` + note(""); break;
    default: html = note(stepName === "verify-fail" ? "还有什么问题 what is still wrong" : "理由 why");
  }
  f.innerHTML = html + `<button type="submit" class="primary">${esc(label)}</button>`;
  f.hidden = false;
  f.onsubmit = async (e) => {
    e.preventDefault();
    const v = (n) => f.querySelector(`[name=${n}]`)?.value?.trim() || "";
    const body = { note: v("note") };
    if (form === "dispatch") {
      body.responsible = { kind: v("kind"), name: v("name"), phone: v("phone") };
      if (v("deadline")) body.deadline = new Date(v("deadline")).toISOString();
    }
    if (form === "deadline") body.deadline = new Date(v("deadline")).toISOString();
    if (form === "handover") body.to = v("to");
    if (form === "rectify") body.photos = await shrinkAll(f.querySelector("[name=photos]").files);
    if (stepName === "verify-fail") body.passed = false;
    step(stepName === "verify-fail" ? "verify" : stepName, body);
  };
  f.scrollIntoView({ block: "nearest" });
}

async function step(name, body) {
  $("#hz-error").textContent = "";
  const r = await api(`/api/v1/hazards/${encodeURIComponent(current.id)}/${name}`, { method: "POST", body: JSON.stringify(body) });
  if (!r.ok) { $("#hz-error").textContent = await errorOf(r); return; }
  current = await r.json();
  flash(`${current.id}: ${current.status}`);
  renderHazard();
}

// --- photos: made small on the phone before they travel ---------------------
function b64(blob) {
  return new Promise((res, rej) => { const r = new FileReader(); r.onload = () => res(String(r.result).split(",")[1]); r.onerror = rej; r.readAsDataURL(blob); });
}
async function shrink(file) {
  try {
    const bmp = await createImageBitmap(file);
    const k = Math.min(1, 1600 / Math.max(bmp.width, bmp.height));
    const c = document.createElement("canvas");
    c.width = Math.max(1, Math.round(bmp.width * k)); c.height = Math.max(1, Math.round(bmp.height * k));
    c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
    const blob = await new Promise((res) => c.toBlob(res, "image/jpeg", 0.85));
    return { name: file.name.replace(/\.[^.]*$/, "") + ".jpg", data: await b64(blob) };
  } catch (e) {
    return { name: file.name, data: await b64(file) }; // the server checks what it is
  }
}
async function shrinkAll(files) { const out = []; for (const f of files || []) out.push(await shrink(f)); return out; }

// --- report -----------------------------------------------------------------
let siteTimer = null;
$("#r-site-q").oninput = () => { clearTimeout(siteTimer); siteTimer = setTimeout(searchSites, 250); };
async function searchSites() {
  const q = $("#r-site-q").value.trim();
  const r = await api("/api/v1/sites?limit=50&q=" + encodeURIComponent(q));
  if (!r.ok) return;
  const list = (await r.json()).sites;
  $("#r-site").innerHTML = `<option value="">— 选择地点 pick a site (${list.length}) —</option>` +
    list.map((s) => `<option value="${esc(s.id)}">${esc(s.name)} (${esc(s.id)})</option>`).join("");
  if (list.length === 1) $("#r-site").value = list[0].id;
}
$("#r-locate").onclick = () => {
  if (!navigator.geolocation) { $("#r-where").textContent = "no location on this device"; return; }
  $("#r-where").textContent = "locating…";
  navigator.geolocation.getCurrentPosition((p) => {
    here = { lon: p.coords.longitude, lat: p.coords.latitude };
    $("#r-where").textContent = `📍 ${here.lon.toFixed(5)}, ${here.lat.toFixed(5)} (±${Math.round(p.coords.accuracy)} m)`;
  }, (e) => { $("#r-where").textContent = "location refused: " + e.message; }, { enableHighAccuracy: true, timeout: 15000 });
};
for (const r of $$("input[name=r-source]")) r.onchange = () => { $("#r-resident").hidden = $("input[name=r-source]:checked").value !== "resident"; };
$("#report-form").onsubmit = async (e) => {
  e.preventDefault();
  $("#r-error").textContent = "";
  $("#r-submit").disabled = true;
  try {
    const body = { category: $("#r-category").value, description: $("#r-description").value, address: $("#r-address").value,
      source: $("input[name=r-source]:checked").value, ref: reportRef || (reportRef = ref()) };
    if ($("#r-site").value) body.site = $("#r-site").value; else if (here) body.location = here;
    if (body.source === "resident") body.reporter = { name: $("#r-reporter-name").value, phone: $("#r-reporter-phone").value };
    body.photos = await shrinkAll($("#r-photos").files);
    const r = await api("/api/v1/hazards", { method: "POST", body: JSON.stringify(body) });
    if (!r.ok) { $("#r-error").textContent = await errorOf(r); return; }
    const h = await r.json();
    reportRef = null; // the next report is another
    $("#report-form").reset(); $("#r-resident").hidden = true; here = null; $("#r-where").textContent = "";
    flash(`已上报 reported ${h.id}`);
    openHazard(h.id);
  } finally { $("#r-submit").disabled = false; }
};

// --- rounds -----------------------------------------------------------------
async function loadRounds() {
  $("#checkin-form").hidden = true;
  const [pr, rr] = await Promise.all([api("/api/v1/inspections/plans"), api("/api/v1/inspections/rounds?status=due")]);
  if (pr.ok) plans = (await pr.json()).plans;
  const rounds = rr.ok ? (await rr.json()).rounds : [];
  $("#rounds-empty").hidden = rounds.length > 0;
  const flags = (f) => [f?.elderly_alone && "独居老人", f?.bereaved && "失独老人", f?.disabled && "残疾人"].filter(Boolean).map((x) => `<span class="flag">${x}</span>`).join(" ");
  $("#rounds").innerHTML = rounds.map((r) => `
    <li data-plan="${esc(r.plan)}" data-object="${esc(r.object.id)}">
      <div class="top"><span class="what">${esc(r.object.name)}</span><small>到期 due ${fmt(r.due)}</small></div>
      <div class="where">${esc(r.plan_name)} ${flags(r.object.resident_flags)}</div>
    </li>`).join("");
  for (const li of $$("#rounds li")) li.onclick = () => checkinForm(li.dataset.plan, li.dataset.object, li.querySelector(".what").textContent);
  if (may("lists")) {
    const cr = await api("/api/v1/inspections/coverage");
    if (cr.ok) {
      const rows = (await cr.json()).coverage;
      $("#coverage-title").hidden = $("#coverage").hidden = rows.length === 0;
      $("#coverage tbody").innerHTML = rows.map((c) => `<tr><td>${esc(c.zone)}</td><td>${esc(c.plan)}</td><td>${c.done}/${c.objects}</td><td>${c.missed}</td><td>${c.rate == null ? "" : Math.round(c.rate * 100) + "%"}</td></tr>`).join("");
    }
  }
}

function checkinForm(planID, object, name) {
  const p = plans.find((x) => x.id === planID);
  if (!p) return;
  const f = $("#checkin-form"), myRef = ref();
  f.innerHTML = `<h3>${esc(name)}</h3><ul class="checklist">${p.checklist.map((it) => `
    <li data-item="${esc(it.id)}"><div>${esc(it.text)}</div>
      <div class="choice"><button type="button" class="ok on" data-ok="1">✓ 正常 ok</button><button type="button" class="fail" data-ok="0">✗ 隐患 hazard</button></div>
      <input name="note" placeholder="说明 note">
      <input name="photos" type="file" accept="image/*" capture="environment" multiple hidden>
    </li>`).join("")}</ul>
    <label>备注 note <input name="round-note"></label>
    <button type="submit" class="primary">完成巡查 check in</button><p class="error" role="alert"></p>`;
  for (const li of f.querySelectorAll(".checklist li")) {
    for (const b of li.querySelectorAll(".choice button")) b.onclick = () => {
      li.querySelectorAll(".choice button").forEach((x) => x.classList.toggle("on", x === b));
      li.querySelector("[name=photos]").hidden = b.dataset.ok === "1";
    };
  }
  f.hidden = false;
  f.scrollIntoView({ block: "start" });
  f.onsubmit = async (e) => {
    e.preventDefault();
    const items = [];
    for (const li of f.querySelectorAll(".checklist li")) {
      const ok = li.querySelector(".choice .on").dataset.ok === "1";
      const it = { item: li.dataset.item, ok, note: li.querySelector("[name=note]").value };
      if (!ok) it.photos = await shrinkAll(li.querySelector("[name=photos]").files);
      items.push(it);
    }
    const r = await api("/api/v1/inspections/checkins", { method: "POST", body: JSON.stringify({ plan: planID, object, items, note: f.querySelector("[name=round-note]").value, ref: myRef }) });
    if (!r.ok) { f.querySelector(".error").textContent = await errorOf(r); return; }
    const c = await r.json();
    flash(`已巡查 checked in ${name}` + (c.hazards?.length ? `; 发现隐患 hazards ${c.hazards.join(", ")}` : ""));
    document.body.dataset.lastCheckin = c.id;
    loadRounds();
  };
}

// --- lists ------------------------------------------------------------------
for (const a of $$("a[data-list]")) a.href = `/api/v1/lists/${a.dataset.list}?format=${a.dataset.format}`;

// --- start ------------------------------------------------------------------
async function start() {
  let r;
  try { r = await fetch("/api/v1/me", { credentials: "same-origin" }); } catch (e) { setTimeout(start, 3000); return; }
  if (r.status === 401) { showLogin(); return; }
  const j = await r.json();
  me = j.user; auth = j.auth;
  $("#user").textContent = `${me.username} · ${me.role}${me.area ? " · " + me.area : ""}${me.org ? " · " + me.org : ""}${me.station ? " · " + me.station : ""}`;
  $("#console-link").hidden = !["crew", "center119", "subdistrict"].includes(me.role);
  $("#login").hidden = true; $("#app").hidden = false; $("#logout").hidden = !auth;
  for (const b of $$(".tabs button[data-needs]")) b.hidden = !may(b.dataset.needs);
  const c = await api("/api/v1/hazards/categories");
  if (c.ok) {
    const cj = await c.json();
    categories = cj.categories; kinds = cj.responsible_kinds;
    const opts = categories.map((x) => `<option value="${esc(x.id)}">${esc(x.name)}${x.serious ? " ⚠" : ""}</option>`).join("");
    $("#r-category").innerHTML = opts;
    $("#f-category").innerHTML = `<option value="">全部类别 all categories</option>` + opts;
  }
  if (may("report")) searchSites();
  tab("list");
  document.body.dataset.ready = "1";
}
start();
