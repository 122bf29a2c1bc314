// The flowkit console page: plain JavaScript over the console's JSON API,
// with relative URLs so that it works under any mount prefix. Every text
// from the API goes in through textContent, never as HTML.
"use strict";

const REFRESH_MS = 2000;
const NODE_W = 210, NODE_H = 62, COL_GAP = 120, ROW_GAP = 26, PAD = 20;
const SVG = "http://www.w3.org/2000/svg";

const ACTIONS = ["activate", "pause", "resume", "finish", "cancel"];
const LABELS = { activate: "Activate", pause: "Pause", resume: "Resume", finish: "Finish", cancel: "Cancel" };

const state = {
  flows: [],
  signIn: false,   // the message asks the user to sign in
  flow: null,      // the flow record (id, name, status, versions)
  version: 0,
  doc: null,       // the version's document
  element: "",     // the participants filter
  pages: [],       // "after" of each participants page shown so far
  timer: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k === "onclick") e.addEventListener("click", v);
    else e[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path, options) {
  const res = await fetch("api/" + path, Object.assign({ headers: { Accept: "application/json" } }, options));
  let body = null;
  try { body = await res.json(); } catch (_) { /* an empty or non-JSON answer */ }
  if (res.status === 401) askSignIn(body && body.loginUrl);
  if (!res.ok) {
    const err = new Error((body && body.error) || res.status + " " + res.statusText);
    err.status = res.status;
    throw err;
  }
  if (state.signIn) show(""); // signed in again
  return body;
}

function show(msg) {
  if (state.signIn && msg) return; // the sign-in link stays until an answer comes
  const m = $("message");
  m.textContent = msg || "";
  m.hidden = !msg;
  state.signIn = false;
}

// askSignIn replaces the message with a link to the host's sign-in page.
function askSignIn(loginUrl) {
  const m = $("message");
  m.replaceChildren("You are not signed in. ");
  if (loginUrl) m.append(el("a", { id: "sign-in", href: loginUrl }, "Sign in"), " to use the console.");
  else m.append("Sign in to use the console.");
  m.hidden = false;
  state.signIn = true;
}

function when(t) {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d) ? t : d.toLocaleString();
}

const n = (x) => Number(x || 0).toLocaleString();

// ---- flows and versions

async function loadFlows() {
  const { flows, can } = await api("flows");
  state.flows = flows;
  $("search-panel").hidden = !can.includes("readPeople");
  const sel = $("flow");
  sel.replaceChildren(...flows.map((f) => el("option", { value: f.id }, f.name ? f.name + " (" + f.id + ")" : f.id)));
  if (!flows.length) {
    show("No flows are published yet.");
    return;
  }
  const want = new URLSearchParams(location.search).get("flow");
  await pickFlow(flows.some((f) => f.id === want) ? want : flows[0].id);
}

async function pickFlow(id) {
  $("flow").value = id;
  state.flow = await api("flows/" + encodeURIComponent(id));
  showVersions();
  showStatus();
  await pickVersion(state.flow.latest);
}

function showVersions() {
  const vs = $("version");
  vs.replaceChildren(...state.flow.versions.slice().reverse().map((v) =>
    el("option", { value: v.version }, "v" + v.version + (v.version === state.flow.latest ? " (latest)" : "") + " · " + when(v.publishedAt))));
  if (state.version) vs.value = String(state.version);
}

function showStatus() {
  const s = $("status");
  s.textContent = state.flow.status;
  s.className = "badge " + state.flow.status;
  showActions();
}

// showActions shows a button for each lifecycle action the user may take
// on the flow, and no others; the server checks each action again.
function showActions() {
  const can = state.flow.can || [];
  const box = $("actions");
  const shown = [...box.querySelectorAll("button")].map((b) => b.dataset.action);
  const want = ACTIONS.filter((a) => can.includes(a));
  if (shown.join() === want.join()) return;
  box.replaceChildren(...want.map((a) => el("button", { type: "button", "data-action": a, onclick: () => act(a) }, LABELS[a])));
}

async function pickVersion(v) {
  state.version = Number(v);
  $("version").value = String(v);
  const d = await api("flows/" + encodeURIComponent(state.flow.id) + "/versions/" + v);
  state.doc = d.document;
  drawGraph();
  await refreshStats();
  state.element = "";
  await loadParticipants(true);
}

// ---- the graph

// layout places elements in columns by their distance from the start.
function layout(doc) {
  const elems = doc.elements || [];
  const byID = new Map(elems.map((e) => [e.id, e]));
  const depth = new Map();
  const start = doc.start || (elems[0] && elems[0].id);
  const queue = start ? [start] : [];
  if (start) depth.set(start, 0);
  while (queue.length) {
    const id = queue.shift();
    const e = byID.get(id);
    for (const target of Object.values((e && e.next) || {})) {
      if (target && byID.has(target) && !depth.has(target)) {
        depth.set(target, depth.get(id) + 1);
        queue.push(target);
      }
    }
  }
  let maxDepth = Math.max(0, ...depth.values());
  for (const e of elems) if (!depth.has(e.id)) depth.set(e.id, maxDepth + 1); // unreachable
  const cols = [];
  for (const e of elems) {
    const d = depth.get(e.id);
    (cols[d] = cols[d] || []).push(e);
  }
  const pos = new Map();
  cols.forEach((col, c) => (col || []).forEach((e, r) => {
    pos.set(e.id, { x: PAD + c * (NODE_W + COL_GAP), y: PAD + r * (NODE_H + ROW_GAP) });
  }));
  return pos;
}

function drawGraph() {
  const g = $("graph");
  g.replaceChildren();
  const doc = state.doc;
  const pos = layout(doc);
  let w = 0, h = 0;
  for (const p of pos.values()) { w = Math.max(w, p.x + NODE_W); h = Math.max(h, p.y + NODE_H); }
  g.setAttribute("width", w + PAD + 90);
  g.setAttribute("height", h + PAD);
  const edges = svg("g", { class: "edges" });
  const nodes = svg("g", { class: "nodes" });
  g.append(edges, nodes);
  const incoming = new Map(); // labels placed so far by target, to stack them
  for (const e of doc.elements || []) {
    const p = pos.get(e.id);
    // Edges leave from the element's right side and carry their label
    // near the element they reach, where labels of a wide split do not
    // pile up; branches that leave the flow are listed beside it.
    let exits = 0;
    for (const [branch, target] of Object.entries(e.next || {})) {
      const x1 = p.x + NODE_W, y1 = p.y + NODE_H / 2;
      const label = svg("text", { class: "edge-label", "data-left": e.id + ":" + branch });
      const q = target && pos.get(target);
      if (q) {
        const x2 = q.x, y2 = q.y + NODE_H / 2;
        const dx = Math.max(40, Math.abs(x2 - x1) / 2);
        const d = x2 <= x1
          ? `M${x1},${y1} C${x1 + 60},${y1 - NODE_H} ${x2 - 60},${y2 - NODE_H} ${x2},${y2}`
          : `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
        edges.append(svg("path", { class: "edge", d }));
        const k = incoming.get(target) || 0;
        incoming.set(target, k + 1);
        label.setAttribute("x", x2 - COL_GAP + 34);
        label.setAttribute("y", y2 - 5 - 13 * k);
      } else {
        label.setAttribute("class", "exit-label");
        label.setAttribute("x", x1 + 6);
        label.setAttribute("y", p.y + 14 + 14 * exits++);
        label.dataset.exit = "1";
      }
      label.textContent = branch + (q ? "" : " → leaves");
      edges.append(label);
    }
    const node = svg("g", { class: "node", "data-element": e.id, transform: `translate(${p.x},${p.y})`, tabindex: "0", role: "button" });
    node.append(svg("rect", { width: NODE_W, height: NODE_H }));
    node.append(svg("text", { class: "title", x: 10, y: 18 }, truncate(e.name || e.id, 26)));
    node.append(svg("text", { class: "kind", x: 10, y: 33 }, truncate(e.type + (e.name ? " · " + e.id : ""), 34)));
    const counts = svg("text", { class: "counts", x: 10, y: 51 });
    counts.append(svg("tspan", {}, "in "), svg("tspan", { "data-count": "entered" }, "0"),
      svg("tspan", {}, " · wait "), svg("tspan", { "data-count": "waiting" }, "0"),
      svg("tspan", {}, " · err "), svg("tspan", { "data-count": "errors", class: "errors" }, "0"));
    node.append(counts);
    node.append(svg("title", {}, e.id + " (" + e.type + ")"));
    const pick = () => { state.element = e.id; loadParticipants(true); };
    node.addEventListener("click", pick);
    node.addEventListener("keydown", (ev) => { if (ev.key === "Enter") pick(); });
    nodes.append(node);
  }
}

function truncate(s, max) { return s.length > max ? s.slice(0, max - 1) + "…" : s; }

async function refreshStats() {
  if (!state.flow) return;
  const st = await api("flows/" + encodeURIComponent(state.flow.id) + "/versions/" + state.version + "/stats");
  if (st.flowId !== state.flow.id || st.version !== state.version) return; // the user moved on
  const g = $("graph");
  for (const e of st.elements) {
    const node = g.querySelector(`.node[data-element="${CSS.escape(e.id)}"]`);
    if (!node) continue;
    for (const k of ["entered", "waiting", "errors"]) {
      node.querySelector(`[data-count="${k}"]`).textContent = n(e[k]);
    }
    node.querySelector(".errors").classList.toggle("some", e.errors > 0);
    for (const [branch, count] of Object.entries(e.left || {})) {
      const label = g.querySelector(`[data-left="${CSS.escape(e.id + ":" + branch)}"]`);
      if (label) label.textContent = branch + ": " + n(count) + (label.dataset.exit ? " → leaves" : "");
    }
  }
  $("graph").dataset.loaded = "1";
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

// ---- participants

async function loadParticipants(first) {
  if (!state.flow) return;
  if (first) state.pages = [""];
  const after = state.pages[state.pages.length - 1];
  const q = new URLSearchParams();
  const status = $("participants-status").value;
  if (status) q.set("status", status);
  if (state.element) q.set("element", state.element);
  if (after) q.set("after", after);
  q.set("limit", "25");
  for (const node of $("graph").querySelectorAll(".node")) node.classList.toggle("selected", node.dataset.element === state.element);
  $("participants-filter").textContent = state.element ? "at " + state.element : "";
  const page = await api("flows/" + encodeURIComponent(state.flow.id) + "/participants?" + q);
  const list = $("participants");
  list.replaceChildren(...page.participants.map((p) => el("li", { "data-participant": p.id, onclick: () => openParticipant(p.id) },
    el("span", { class: "badge " + p.status }, p.status), " ", p.element, " ",
    el("span", { class: "muted" }, "v" + p.flowVersion + " · since " + when(p.arrivedAt)), el("br"),
    el("span", { class: "mono muted" }, p.id))));
  if (!page.participants.length) list.append(el("li", { class: "muted" }, "No participants here."));
  list.dataset.element = state.element; // what the list shows, once it shows it
  const next = $("participants-next");
  next.disabled = !page.next;
  next.onclick = () => { state.pages.push(page.next); loadParticipants(false); };
}

async function openParticipant(id) {
  try {
    showJourney(await api("participants/" + encodeURIComponent(id)));
  } catch (err) { show(err.message); }
}

function showJourney(p) {
  const box = $("journey");
  const facts = el("dl", {},
    el("dt", {}, "participant"), el("dd", { class: "mono" }, p.id),
    el("dt", {}, "flow"), el("dd", {}, p.flowId + " v" + p.flowVersion),
    el("dt", {}, "status"), el("dd", { "data-journey-status": p.status }, p.status + (p.reason ? ": " + p.reason : "")),
    el("dt", {}, "at"), el("dd", {}, p.element + " since " + when(p.arrivedAt)),
    el("dt", {}, "entered"), el("dd", {}, when(p.enteredAt)));
  if (p.wait) {
    const parts = [];
    if (p.wait.events && p.wait.events.length) parts.push("for " + p.wait.events.join(", "));
    if (p.wait.until) parts.push("until " + when(p.wait.until));
    if (p.wait.parked) parts.push("(flow paused)");
    facts.append(el("dt", {}, "waiting"), el("dd", {}, parts.join(" ")));
  }
  if (p.vars && Object.keys(p.vars).length) facts.append(el("dt", {}, "variables"), el("dd", { class: "mono" }, JSON.stringify(p.vars)));
  const steps = el("ol", { class: "timeline", id: "timeline" }, ...(p.journal || []).map((s) => el("li", { "data-step": s.seq },
    el("span", { class: "when" }, when(s.at)), " ",
    el("strong", {}, s.element), s.branch ? " → " + s.branch : "",
    el("span", { class: "reason" }, s.reason))));
  if (!(p.journal || []).length) steps.append(el("li", { class: "muted" }, "No steps yet."));
  box.replaceChildren(facts, steps);
}

// ---- people

async function search(ev) {
  ev.preventDefault();
  const key = $("search-key").value, value = $("search-value").value.trim();
  if (!value) return;
  const q = new URLSearchParams({ [key]: value });
  const box = $("person");
  try {
    const page = await api("person?" + q);
    show("");
    const p = page.person;
    const name = [p.firstName, p.lastName].filter(Boolean).join(" ") || p.externalId || p.id;
    const parts = el("ol", {}, ...page.participations.map((part) => el("li", { "data-participation": part.id, onclick: () => showJourney(part) },
      el("span", { class: "badge " + part.status }, part.status), " ", part.flowId + " v" + part.flowVersion + " at " + part.element,
      el("br"), el("span", { class: "muted" }, "entered " + when(part.enteredAt) + (part.reason ? " · " + part.reason : "")))));
    if (!page.participations.length) parts.append(el("li", { class: "muted" }, "In no flow."));
    const history = el("ol", { id: "history" });
    const more = el("button", { type: "button" }, "older events");
    box.replaceChildren(
      el("h3", {}, name),
      el("dl", {},
        el("dt", {}, "id"), el("dd", { class: "mono" }, p.id),
        el("dt", {}, "external id"), el("dd", {}, p.externalId || "—"),
        el("dt", {}, "emails"), el("dd", {}, (p.emails || []).join(", ") || "—"),
        el("dt", {}, "phones"), el("dd", {}, (p.phones || []).join(", ") || "—"),
        el("dt", {}, "tags"), el("dd", {}, (p.tags || []).join(", ") || "—")),
      el("h2", {}, "Participations"), parts,
      el("h2", {}, "Event history"), history, more);
    let before = "";
    const loadEvents = async () => {
      const eq = new URLSearchParams({ id: p.id, limit: "20" });
      if (before) eq.set("before", before);
      const page = await api("person/events?" + eq);
      history.append(...page.events.map((e) => el("li", {},
        el("span", { class: "muted" }, when(e.time)), " ", e.category + "/" + e.name,
        e.properties ? el("span", { class: "mono muted" }, " " + JSON.stringify(e.properties)) : null)));
      before = page.next || "";
      more.disabled = !page.next;
    };
    more.addEventListener("click", () => loadEvents().catch((err) => show(err.message)));
    await loadEvents();
    if (page.participations.length) showJourney(page.participations[page.participations.length - 1]);
  } catch (err) {
    box.replaceChildren(el("p", { class: "muted" }, err.status === 404 ? "No person with that " + key + "." : err.message));
  }
}

// ---- lifecycle

async function act(action) {
  if (!state.flow) return;
  if (action === "cancel" && !confirm("Cancel the flow? Every participant still in it leaves.")) return;
  try {
    const res = await api("flows/" + encodeURIComponent(state.flow.id) + "/" + action, { method: "POST" });
    state.flow.status = res.status;
    showStatus();
    show("");
  } catch (err) { show(action + ": " + err.message); }
}

// ---- wiring

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    if ($("live").checked && !document.hidden) {
      try {
        await refreshStats();
        const f = await api("flows/" + encodeURIComponent(state.flow.id));
        if (f.id === state.flow.id) {
          const published = f.latest !== state.flow.latest;
          state.flow = f;
          if (published) showVersions(); // a new version appears in the picker
          showStatus();
        }
      } catch (err) { show(err.message); }
    }
    schedule();
  }, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("flow").addEventListener("change", (e) => pickFlow(e.target.value).catch((err) => show(err.message)));
  $("version").addEventListener("change", (e) => pickVersion(e.target.value).catch((err) => show(err.message)));
  $("participants-status").addEventListener("change", () => loadParticipants(true).catch((err) => show(err.message)));
  $("participants-clear").addEventListener("click", () => { state.element = ""; loadParticipants(true).catch((err) => show(err.message)); });
  $("participants-first").addEventListener("click", () => loadParticipants(true).catch((err) => show(err.message)));
  $("search").addEventListener("submit", search);
  try {
    await loadFlows();
    schedule();
  } catch (err) { show(err.message); }
});
