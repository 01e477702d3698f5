// Warden's approvals page: everything goes through the HTTP API with the person's own token
// (kept for this tab only, in sessionStorage). Text from the server is only ever set as text.
"use strict";

const state = { token: sessionStorage.getItem("warden-token") || "", selected: null };
const $ = (id) => document.getElementById(id);

function say(text, kind) {
  const line = $("message");
  line.textContent = text;
  line.className = kind || "";
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + state.token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    const why = data.message || data.detail || data.error || answer.statusText;
    throw new Error(`${answer.status}: ${typeof why === "string" ? why : JSON.stringify(why)}`);
  }
  return data;
}

function cell(row, text, mono) {
  const td = row.insertCell();
  td.textContent = text;
  if (mono) td.className = "mono";
}

function when(iso) {
  return iso ? iso.slice(0, 19).replace("T", " ") : "-";
}

async function refresh() {
  if (!state.token) return;
  try {
    const { approvals } = await api("GET", "/v1/approvals?status=pending&limit=200");
    const body = $("pending").tBodies[0];
    body.replaceChildren();
    for (const a of approvals) {
      const row = body.insertRow();
      row.dataset.id = a.id;
      if (a.id === state.selected) row.className = "selected";
      cell(row, when(a.created_at));
      cell(row, a.agent, true);
      cell(row, a.tool, true);
      cell(row, a.person || "-");
      cell(row, (a.reasons || []).map((r) => r.code).join(", "));
      cell(row, `${a.approvals ?? 0} of ${a.required}`);
      cell(row, when(a.expires_at));
      row.addEventListener("click", () => show(a.id));
    }
    $("empty").hidden = approvals.length > 0;
  } catch (error) {
    say(`Could not list approvals: ${error.message}`, "error");
  }
}

async function show(id) {
  try {
    const a = await api("GET", `/v1/approvals/${encodeURIComponent(id)}`);
    state.selected = id;
    $("detail").hidden = false;
    $("detail-title").textContent = `${a.tool} by ${a.agent}`;
    const facts = $("detail-facts");
    facts.replaceChildren();
    const rows = [["approval", a.id], ["status", a.status], ["for", a.person || "-"],
      ["mandate", a.mandate_id || "-"], ["chain", a.chain_id || "-"], ["held at", when(a.created_at)],
      ["expires", when(a.expires_at)], ["needs", `${a.required} approval(s)` + (a.separation_of_duties ? ", separation of duties" : "")]];
    for (const [name, value] of rows) {
      const dt = document.createElement("dt"); dt.textContent = name;
      const dd = document.createElement("dd"); dd.textContent = value;
      facts.append(dt, dd);
    }
    $("detail-held").textContent = JSON.stringify(a.held, null, 2);
    const reasons = $("detail-reasons"); reasons.replaceChildren();
    for (const r of a.reasons || []) {
      const li = document.createElement("li"); li.textContent = `${r.code}: ${r.message}`; reasons.append(li);
    }
    const votes = $("detail-votes"); votes.replaceChildren();
    for (const v of a.votes || []) {
      const li = document.createElement("li");
      li.textContent = `${v.approver} — ${v.vote}${v.comment ? `: “${v.comment}”` : ""} (${when(v.at)})`;
      votes.append(li);
    }
    if (!(a.votes || []).length) { const li = document.createElement("li"); li.textContent = "none yet"; votes.append(li); }
    $("vote").hidden = a.status !== "pending";
    await refresh();
  } catch (error) {
    say(`Could not open ${id}: ${error.message}`, "error");
  }
}

async function vote(how) {
  const id = state.selected;
  try {
    const done = await api("POST", `/v1/approvals/${encodeURIComponent(id)}/${how}`, { comment: $("comment").value });
    say(`${how === "approve" ? "Approved" : "Denied"} ${id}: now ${done.status}.`, "ok");
    $("comment").value = "";
    await show(id);
  } catch (error) {
    say(`Could not ${how} ${id}: ${error.message}`, "error");
  }
}

function signedIn() {
  $("logout").hidden = !state.token;
  $("who").textContent = state.token ? "Using your token for this tab. Your votes carry your name in the ledger." : "Paste your token to see what is waiting.";
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("warden-token", state.token);
    $("token").value = "";
    signedIn(); say(""); refresh();
  });
  $("logout").addEventListener("click", () => {
    state.token = ""; sessionStorage.removeItem("warden-token");
    $("pending").tBodies[0].replaceChildren(); $("detail").hidden = true; signedIn();
  });
  $("refresh").addEventListener("click", refresh);
  $("vote").addEventListener("submit", (event) => { event.preventDefault(); vote(event.submitter.value); });
  signedIn(); refresh();
  setInterval(refresh, 5000);
});
