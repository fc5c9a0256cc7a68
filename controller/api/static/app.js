// cronplane dashboard: a small single-page app over the same REST API as every other client.
// Pages (hash routes): #/ overview, #/job/<collection>/<name>, #/plan, #/feed. No build step.
"use strict";

const ARM = "/subscriptions/local/resourceGroups/local/providers/Microsoft.Scheduler";
const main = () => document.getElementById("main");
const state = { who: null, timer: null, historySkip: 0, historyFilter: "" };

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function when(iso) { return iso ? esc(String(iso).slice(0, 19).replace("T", " ")) + " UTC" : "—"; }
function badge(text, kind) { return text ? `<span class="badge ${esc(kind || text)}">${esc(text)}</span>` : ""; }
function banner(text) { document.getElementById("banner").textContent = text || ""; }

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  const token = sessionStorage.getItem("cronplane-token");
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { askToken(); throw new Error("a token is needed"); }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = (body && body.error) || {};
    const details = (error.details || []).map((d) => d.message).join("; ");
    throw new Error(`${error.message || response.statusText}${details ? ": " + details : ""}`);
  }
  return body;
}

function askToken() {
  main().innerHTML = `<section class="panel"><h1>Sign in</h1>
    <form id="token-form" class="actions"><label>API token <input id="token" type="password" autocomplete="off" required></label>
    <button type="submit">Use token</button></form>
    <p class="muted">The server requires a bearer token (read-only or admin).</p></section>`;
  document.getElementById("token-form").onsubmit = (e) => {
    e.preventDefault();
    sessionStorage.setItem("cronplane-token", document.getElementById("token").value.trim());
    route();
  };
}

function jobPath(job) { const [c, n] = job.split("/"); return `${ARM}/jobCollections/${encodeURIComponent(c)}/jobs/${encodeURIComponent(n)}`; }
function strip(recent) {
  const cells = recent.slice().reverse().map((r) => `<i class="${esc(r.status)}${r.manual ? " manual" : ""}" title="${esc(r.status)} ${when(r.at)}${r.manual ? " (manual)" : ""}"></i>`);
  return `<span class="strip" aria-label="recent results: ${recent.map((r) => esc(r.status)).join(", ") || "none"}">${cells.join("")}</span>`;
}

// --- overview ------------------------------------------------------------------------------------
async function overview() {
  const data = await api("/api/v1/overview");
  const collections = data.collections.map((c) => `<option>${esc(c.name)}</option>`).join("");
  const conditions = [...new Set(data.jobs.map((j) => j.condition))].map((c) => `<option>${esc(c)}</option>`).join("");
  main().innerHTML = `<h1>Overview</h1>
    <div class="stats">
      <div class="stat"><b>${data.jobs.length}</b><span>jobs in ${data.collections.length} collections</span></div>
      <div class="stat"><b>${data.leader ? "yes" : "no"}</b><span>controller leading${data.leader ? ": " + esc(data.leader) : ""}</span></div>
      <div class="stat"><b>${esc(data.sync.result || "—")}</b><span>last sync ${esc((data.sync.at || "").slice(0, 19))}</span></div>
      <div class="stat"><b>${data.queueDepth}</b><span>invocations queued</span></div>
      <div class="stat"><b>${data.overrides.length}</b><span>overrides (drift)</span></div>
    </div>
    <div class="filters" role="search">
      <label>Search <input id="q" type="search" placeholder="job name" aria-label="Search jobs"></label>
      <label>Collection <select id="fc"><option value="">all</option>${collections}</select></label>
      <label>Condition <select id="fs"><option value="">all</option>${conditions}</select></label>
    </div>
    <div class="table-wrap"><table class="responsive" id="jobs"><caption class="muted" style="text-align:left;padding:8px 10px">Jobs</caption>
      <thead><tr><th>Job</th><th>State</th><th>Condition</th><th>Schedule</th><th>Next run</th><th>Last run</th><th>Recent</th></tr></thead>
      <tbody></tbody></table></div>
    <h2>Collections</h2><ul>${data.collections.map((c) => `<li><b>${esc(c.name)}</b> ${badge(c.state)} <span class="muted">${esc(c.source)}</span></li>`).join("")}</ul>`;
  const render = () => {
    const q = document.getElementById("q").value.toLowerCase();
    const fc = document.getElementById("fc").value, fs = document.getElementById("fs").value;
    const rows = data.jobs.filter((j) => (!q || j.job.includes(q)) && (!fc || j.collection === fc) && (!fs || j.condition === fs));
    document.querySelector("#jobs tbody").innerHTML = rows.map((j) => `<tr data-job="${esc(j.job)}">
      <td data-label="Job"><a href="#/job/${esc(j.job)}">${esc(j.job)}</a></td>
      <td data-label="State">${esc(j.state)}</td>
      <td data-label="Condition">${badge(j.condition)} ${j.suspended ? badge("drift: suspended", "drift") : ""}</td>
      <td data-label="Schedule">${esc(j.schedule)}</td>
      <td data-label="Next run">${when(j.nextExecutionTime)}</td>
      <td data-label="Last run">${when(j.lastExecutionTime)} ${badge(j.lastResult)}</td>
      <td data-label="Recent">${strip(j.recent)}</td></tr>`).join("") || `<tr><td colspan="7" class="muted">No jobs match.</td></tr>`;
  };
  ["q", "fc", "fs"].forEach((id) => document.getElementById(id).addEventListener("input", render));
  render();
}

// --- one job ---------------------------------------------------------------------------------------
async function jobPage(job) {
  const [resource, next] = await Promise.all([api(jobPath(job)), api(`/api/v1/jobs/${job}/next?count=10`)]);
  const extra = resource.cronplane, admin = state.who && state.who.role === "admin";
  const first = next.length ? Date.parse(next[0]) : 0, last = next.length ? Date.parse(next[next.length - 1]) : 0;
  const dots = next.map((t) => { const x = last > first ? ((Date.parse(t) - first) / (last - first)) * 96 + 2 : 50;
    return `<span style="left:${x}%" title="${esc(t)}"></span>`; }).join("");
  main().innerHTML = `<h1>${esc(job)} ${badge(extra.condition)} ${extra.overrides.length ? badge("drift: suspended", "drift") : ""}</h1>
    ${extra.overrides.map((o) => `<p class="panel" id="drift">Override in force (drift from the manifests): ${esc(o)}</p>`).join("")}
    <section class="panel actions" aria-label="Operations">
      <button id="run-now" ${admin ? "" : "disabled"}>Run now</button>
      <form id="suspend-form"><label>Suspend for <input id="suspend-for" value="1h" size="6" aria-label="Suspend for"></label>
        <label>Reason <input id="suspend-reason" required aria-label="Reason"></label>
        <button type="submit" class="secondary" ${admin ? "" : "disabled"}>Suspend</button></form>
      <button id="resume" class="secondary" ${admin && extra.overrides.length ? "" : "disabled"}>Resume</button>
      ${admin ? "" : `<span class="muted">read-only token: operations need an admin token</span>`}
    </section>
    <div class="grid2">
      <section class="panel"><h2>Status</h2><dl class="kv">
        <dt>Condition</dt><dd>${esc(extra.condition)} ${esc(extra.reason)}</dd>
        <dt>State</dt><dd>${esc(resource.properties.state)}</dd>
        <dt>Runs / failures</dt><dd>${esc((resource.properties.status || {}).executionCount || 0)} / ${esc((resource.properties.status || {}).failureCount || 0)}</dd>
        <dt>Last run</dt><dd>${when((resource.properties.status || {}).lastExecutionTime)} ${badge(extra.lastResult)}</dd>
        <dt>Manifest</dt><dd><code>${esc(extra.source || "not synced yet")}</code>${extra.apiOwned ? " (API-owned)" : ""}</dd>
        <dt>Git SHA</dt><dd><code>${esc(extra.gitSha || "—")}</code></dd></dl></section>
      <section class="panel"><h2>Next runs</h2><div class="timeline" aria-hidden="true">${dots}</div>
        <ol class="runs">${next.map((t) => `<li>${when(t)}</li>`).join("") || "<li>none scheduled</li>"}</ol></section>
    </div>
    <section class="panel"><h2>History</h2>
      <div class="filters"><label>Status <select id="hf"><option value="">all</option>
        ${["Completed", "Failed", "Missed", "Skipped"].map((s) => `<option ${state.historyFilter === s ? "selected" : ""}>${s}</option>`).join("")}</select></label></div>
      <div class="table-wrap"><table class="responsive" id="history"><thead><tr><th>Started</th><th>Status</th><th>Action</th><th>Occurrence</th><th>Retry</th><th>Message</th></tr></thead><tbody></tbody></table></div>
      <div class="pager"><button id="newer" class="secondary">Newer</button><button id="older" class="secondary">Older</button><span id="page" class="muted"></span></div></section>
    <section class="panel"><h2>Spec</h2><p class="muted">Secrets are write-only and never shown.</p><pre>${esc(JSON.stringify(resource.properties, null, 2))}</pre></section>`;
  const act = async (fn) => { try { banner(await fn()); await jobPage(job); } catch (e) { banner(e.message); } };
  document.getElementById("run-now").onclick = () => act(async () => {
    const r = await api(`${jobPath(job)}/run`, { method: "POST", body: JSON.stringify({ reason: "run now from the dashboard" }) });
    return `Run-now requested (${r.requestId}); the new history entry appears below.`;
  });
  document.getElementById("suspend-form").onsubmit = (e) => { e.preventDefault(); act(async () => {
    const body = { for: document.getElementById("suspend-for").value, reason: document.getElementById("suspend-reason").value };
    const r = await api(`${jobPath(job)}/suspend`, { method: "POST", body: JSON.stringify(body) });
    return `Suspended until ${r.until}.`;
  }); };
  document.getElementById("resume").onclick = () => act(async () => { await api(`${jobPath(job)}/resume`, { method: "POST" }); return "Resumed."; });
  document.getElementById("hf").onchange = (e) => { state.historyFilter = e.target.value; state.historySkip = 0; history(job); };
  document.getElementById("newer").onclick = () => { state.historySkip = Math.max(0, state.historySkip - 10); history(job); };
  document.getElementById("older").onclick = () => { state.historySkip += 10; history(job); };
  await history(job);
}

async function history(job) {
  const filter = state.historyFilter ? `&$filter=${encodeURIComponent(`status eq '${state.historyFilter}'`)}` : "";
  const page = await api(`${jobPath(job)}/history?$top=10&$skip=${state.historySkip}${filter}`);
  document.querySelector("#history tbody").innerHTML = page.value.map((h) => { const p = h.properties, t = h.cronplane.trigger;
    return `<tr><td data-label="Started">${when(p.startTime)}</td><td data-label="Status">${badge(p.status, String(p.status).toLowerCase())}${t ? " " + badge("manual", "drift") : ""}</td>
      <td data-label="Action">${esc(p.actionName)}</td><td data-label="Occurrence">#${esc(p.repeatCount)}</td><td data-label="Retry">${esc(p.retryCount)}</td>
      <td data-label="Message">${esc(String(p.message).split("\n")[0])}${t ? `<br><span class="muted">manual, by ${esc(t.by)}: ${esc(t.reason)}</span>` : ""}</td></tr>`;
  }).join("") || `<tr><td colspan="6" class="muted">No history yet.</td></tr>`;
  document.getElementById("newer").disabled = state.historySkip === 0;
  document.getElementById("older").disabled = !page.nextLink;
  document.getElementById("page").textContent = `entries ${state.historySkip + 1}–${state.historySkip + page.value.length}`;
}

// --- pending plan and live feed ----------------------------------------------------------------
async function planPage() {
  const plan = await api("/api/v1/plan");
  const rows = plan.changes.filter((c) => c.action !== "unchanged");
  main().innerHTML = `<h1>Pending plan</h1><p>${esc(plan.summary)}${plan.prune && plan.prune.blocked ? ` — <b>${esc(plan.prune.message)}</b>` : ""}</p>
    ${plan.overrides.length ? `<section class="panel"><h2>Drift from the manifests</h2><ul>${plan.overrides.map((o) => `<li>${esc(o)}</li>`).join("")}</ul></section>` : ""}
    <div class="table-wrap"><table class="responsive" id="plan"><thead><tr><th>Job</th><th>Change</th><th>Fields / problems</th><th>Fire times</th></tr></thead><tbody>
    ${rows.map((c) => `<tr><td data-label="Job">${esc(c.job)}</td><td data-label="Change">${badge(c.action)}</td>
      <td data-label="Fields">${esc([...c.fields, ...c.problems].join("; "))}</td>
      <td data-label="Fire times">${esc(c.summary)}${c.before.length || c.after.length ? `<br><span class="muted">before: ${esc(c.before.slice(0, 3).join(", ") || "—")}<br>after: ${esc(c.after.slice(0, 3).join(", ") || "—")}</span>` : ""}</td></tr>`).join("")
      || `<tr><td colspan="4" class="muted">Nothing to change: Redis matches the manifests.</td></tr>`}</tbody></table></div>`;
}

async function feedPage() {
  main().innerHTML = `<h1>Live feed</h1><p class="muted">Newest invocations across all jobs, refreshed every 2 seconds.</p>
    <div class="table-wrap"><table class="responsive" id="feed"><thead><tr><th>Started</th><th>Job</th><th>Status</th><th>Action</th><th>Message</th></tr></thead>
    <tbody aria-live="polite"></tbody></table></div>`;
  const tick = async () => {
    const page = await api("/api/v1/feed?limit=50");
    const body = document.querySelector("#feed tbody");
    if (!body) return;
    body.innerHTML = page.value.map((h) => { const p = h.properties, job = h.name.split("/").slice(0, 2).join("/");
      return `<tr><td data-label="Started">${when(p.startTime)}</td><td data-label="Job"><a href="#/job/${esc(job)}">${esc(job)}</a></td>
        <td data-label="Status">${badge(p.status, String(p.status).toLowerCase())}</td><td data-label="Action">${esc(p.actionName)}</td>
        <td data-label="Message">${esc(String(p.message).split("\n")[0])}</td></tr>`; }).join("") || `<tr><td colspan="5" class="muted">No invocations yet.</td></tr>`;
  };
  await tick();
  state.timer = setInterval(() => tick().catch((e) => banner(e.message)), 2000);
}

// --- routing ---------------------------------------------------------------------------------------
async function route() {
  clearInterval(state.timer);
  const hash = location.hash || "#/";
  const page = hash.startsWith("#/job/") ? "job" : hash === "#/plan" ? "plan" : hash === "#/feed" ? "feed" : "overview";
  document.querySelectorAll("[data-nav]").forEach((a) => (a.dataset.nav === page ? a.setAttribute("aria-current", "page") : a.removeAttribute("aria-current")));
  try {
    state.who = await api("/api/v1/whoami");
    document.getElementById("who").textContent = `${state.who.name} · ${state.who.role}`;
    if (page === "job") { state.historySkip = 0; await jobPage(decodeURIComponent(hash.slice(6))); }
    else if (page === "plan") await planPage();
    else if (page === "feed") await feedPage();
    else await overview();
    document.title = `cronplane · ${page === "job" ? hash.slice(6) : page}`;
  } catch (e) {
    if (e.message !== "a token is needed") main().innerHTML = `<p class="panel" role="alert">Could not load: ${esc(e.message)}</p>`;
  }
}
window.addEventListener("hashchange", () => { banner(""); route(); });
route();
