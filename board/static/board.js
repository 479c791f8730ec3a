// taskledger board: renders /api/state, follows /events, never builds HTML from data
// (every stored text goes in with textContent).
"use strict";

const board = {
  tasks: new Map(), counts: {}, version: 0, live: true, at: null, first: null, now: null,
  writes: false, token: null, ready: false, changes: 0,
};
window.__board = board;

const $ = (sel, root = document) => root.querySelector(sel);
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function iso(ms) { return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z"; }
function left(ms) {
  const s = Math.max(0, Math.round((ms - Date.now()) / 1000));
  return s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m` : `${s}s`;
}

const hash = new URLSearchParams(location.hash.slice(1));
board.token = hash.get("token");

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function load(atMs) {
  const data = await getJSON(atMs ? `/api/state?at=${atMs}` : "/api/state");
  board.tasks.clear();
  for (const cards of Object.values(data.columns)) for (const c of cards) board.tasks.set(c.id, c);
  Object.assign(board, { counts: data.counts, first: data.first, now: data.now, writes: data.writes });
  if (data.version > board.version) board.version = data.version;
  render();
  if (!atMs) renderSessions(data.sessions);
  refreshGraph();
  board.ready = true;
}

function matches(card, text) {
  if (!text) return true;
  const hay = `${card.short} ${card.id} ${card.subject} ${card.owner} ${card.holder || ""}`.toLowerCase();
  return hay.includes(text);
}

function cardNode(card) {
  const li = el("li", "card" + (card.ready ? " ready" : ""));
  li.dataset.id = card.id;
  const head = el("div", "head");
  head.append(el("code", "short", card.short), el("span", "subject", card.subject));
  li.append(head);
  const meta = el("div", "meta");
  if (card.holder) meta.append(el("span", "holder", `${card.holder} · ${left(card.leaseUntil)} left`));
  else if (card.owner) meta.append(el("span", "owner", card.owner));
  if (card.blockers.length) meta.append(el("span", "blockers", `blocked by ${card.blockers.join(", ")}`));
  if (card.notes) meta.append(el("span", "notes", `${card.notes} note${card.notes === 1 ? "" : "s"}`));
  if (card.ready) meta.append(el("span", "badge", "ready"));
  li.append(meta);
  li.addEventListener("click", () => openDetail(card.id));
  return li;
}

function render() {
  const text = $("#filter").value.trim().toLowerCase();
  for (const column of document.querySelectorAll(".column")) {
    const status = column.dataset.status;
    const list = $("ol", column);
    const fragment = document.createDocumentFragment();
    let shown = 0;
    for (const card of board.tasks.values()) {
      if (card.status !== status || !matches(card, text)) continue;
      fragment.append(cardNode(card));
      shown += 1;
    }
    list.replaceChildren(fragment);
    const total = board.counts[status] || 0;
    $(".count", column).textContent = String(total);
    $(".more", column).textContent = !text && total > shown ? `… and ${total - shown} more` : "";
  }
}

function renderSessions(sessions) {
  const list = $("#sessions ul");
  const fragment = document.createDocumentFragment();
  for (const s of sessions) {
    const li = el("li", s.live ? "live" : "idle");
    li.append(el("strong", null, s.session), el("span", "badge", s.live ? "live" : "idle"));
    const machines = s.machines.map((m) => m.machine).join(", ");
    if (machines) li.append(el("span", "machine", machines));
    const holds = s.holds.map((h) => `${h.short}${h.until ? " until " + h.until.slice(11, 19) + "Z" : ""}`);
    li.append(el("span", "holds", holds.length ? `holds ${holds.join(", ")}` : "holds nothing"));
    if (s.lastActivity) li.append(el("span", "last", `last ${s.lastActivity.slice(0, 19).replace("T", " ")}Z`));
    fragment.append(li);
  }
  list.replaceChildren(fragment);
}

let graphTimer = null;
function refreshGraph() {
  clearTimeout(graphTimer);
  graphTimer = setTimeout(async () => {
    $("#graph-img").src = `/api/graph.svg?v=${board.version}`;
    const data = await getJSON("/api/graph.json");
    const list = $("#edges");
    list.replaceChildren(...data.edges.map(([a, b]) => el("li", "edge", `${a} → ${b}`)));
    board.graphVersion = board.version;
  }, 150);
}

let sessionsTimer = null;
function refreshSessions() {
  clearTimeout(sessionsTimer);
  sessionsTimer = setTimeout(async () => renderSessions(await getJSON("/api/sessions")), 500);
}

function flash(record) {
  const li = document.querySelector(`li.card[data-id="${record.task}"]`);
  if (li) {
    li.classList.add("flash");
    li.append(el("span", "by", `${record.op} by ${record.session}`));
    setTimeout(() => li.classList.remove("flash"), 2000);
  }
  const item = el("li", null, `${record.at.slice(11, 19)}Z ${record.session} ${record.op} ${record.short} ${record.subject}`);
  $("#changes ol").prepend(item);
  while ($("#changes ol").children.length > 30) $("#changes ol").lastChild.remove();
}

function follow() {
  const events = new EventSource("/events");
  events.onopen = () => { $("#status").textContent = "live"; $("#status").className = "status live"; };
  events.onerror = () => { $("#status").textContent = "reconnecting…"; $("#status").className = "status"; };
  events.onmessage = (event) => {
    const message = JSON.parse(event.data);
    board.version = message.version;
    if (!board.live) return;
    for (const card of message.cards) {
      board.tasks.set(card.id, card);
    }
    for (const record of message.records) {
      if (record.op === "delete") board.tasks.delete(record.task);
    }
    recount();
    render();
    for (const record of message.records) flash(record);
    board.changes += message.records.length;
    if (message.edges) refreshGraph();
    refreshSessions();
  };
}

function recount() {
  const counts = { pending: 0, in_progress: 0, completed: 0 };
  for (const card of board.tasks.values()) counts[card.status] = (counts[card.status] || 0) + 1;
  for (const status of Object.keys(counts)) counts[status] = Math.max(counts[status], board.counts[status] || 0);
  board.counts = counts;
}

async function openDetail(id) {
  const data = await getJSON(`/api/task/${encodeURIComponent(id)}`);
  const task = data.task;
  $("#detail-title").textContent = `${task.shortId} ${task.subject}`;
  const fields = $("#detail-fields");
  fields.replaceChildren();
  const rows = [["status", task.status], ["owner", task.owner || "-"],
    ["lease", task.lease ? `${task.lease.holder} until ${task.lease.until}` : "-"],
    ["blocked by", task.blockedBy.join(", ") || "-"], ["blocks", task.blocks.join(", ") || "-"],
    ["created", task.created ? `${task.created.at} by ${task.created.session}` : "-"],
    ["updated", task.updated ? `${task.updated.at} by ${task.updated.session}` : "-"]];
  for (const [key, value] of rows) fields.append(el("dt", null, key), el("dd", null, value));
  $("#detail-description").textContent = task.description;
  $("#detail-notes").replaceChildren(...task.notes.map((n) => el("li", null, `${n.at} ${n.session}: ${n.text}`)));
  $("#detail-history").replaceChildren(...data.history.map((r) => el("li", null,
    `${r.at} ${r.session} ${r.op}: ${Object.entries(r.fields).map(([k, v]) => change(k, v)).join(", ")}`)));
  $("#detail-conflicts").replaceChildren(...(data.conflicts.length ? data.conflicts.map((c) => el("li", null,
    `${c.field}: ${JSON.stringify(c.lost.value)} (${c.lost.session}) lost to ${JSON.stringify(c.won.value)} (${c.won.session})`))
    : [el("li", null, "none")]));
  renderActions(task);
  $("#detail").showModal();
}

function change(key, value) {
  if (value && typeof value === "object" && "new" in value) {
    const old = value.old === null || value.old === undefined ? "" : `${JSON.stringify(value.old)} → `;
    return `${key}: ${old}${JSON.stringify(value.new)}`;
  }
  return `${key}: ${JSON.stringify(value)}`;
}

function renderActions(task) {
  const box = $("#detail-actions");
  box.replaceChildren();
  if (!board.writes || !board.token) return;
  for (const action of ["claim", "release", "complete"]) {
    const button = el("button", "action", action);
    button.dataset.action = action;
    button.addEventListener("click", () => act(task.id, action, {}));
    box.append(button);
  }
  const note = el("input");
  note.id = "note-text";
  note.placeholder = "a note";
  const send = el("button", "action", "note");
  send.dataset.action = "note";
  send.addEventListener("click", () => act(task.id, "note", { text: note.value }));
  box.append(note, send, el("p", "result"));
}

async function act(id, action, body) {
  const result = $("#detail-actions .result");
  try {
    await getJSON(`/api/task/${encodeURIComponent(id)}/${action}`, {
      method: "POST", headers: { "X-Board-Token": board.token, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    result.textContent = `${action}: done`;
  } catch (error) {
    result.textContent = `${action}: ${error.message}`;
  }
}

function setupClock() {
  const slider = $("#at");
  slider.addEventListener("input", () => {
    if (board.first === null) return;
    const now = Date.now();
    const at = Math.round(board.first + (now - board.first) * (slider.value / 1000));
    $("#at-text").textContent = slider.value === "1000" ? "now" : iso(at);
  });
  slider.addEventListener("change", async () => {
    if (board.first === null || slider.value === "1000") return goLive();
    const now = Date.now();
    board.at = Math.round(board.first + (now - board.first) * (slider.value / 1000));
    board.live = false;
    $("#live").hidden = false;
    await load(board.at);
  });
  $("#live").addEventListener("click", goLive);
  const at = new URLSearchParams(location.search).get("at");
  return at;
}

async function goLive() {
  board.live = true;
  board.at = null;
  $("#at").value = "1000";
  $("#at-text").textContent = "now";
  $("#live").hidden = true;
  await load();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#filter").addEventListener("input", render);
  const at = setupClock();
  follow();
  if (at) {
    board.live = false;
    board.at = /^\d+$/.test(at) ? Number(at) : Date.parse(at);
    $("#live").hidden = false;
    $("#at-text").textContent = iso(board.at);
    await load(board.at);
  } else {
    await load();
  }
});
