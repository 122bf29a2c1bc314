// The flowkit console page: plain JavaScript over the console's JSON API,
// with relative URLs so that it works under any mount prefix. Every text
// from the API goes in through textContent, never as HTML. The graph is
// laid out in layers by the vendored dagre (assets/vendor).
"use strict";

const REFRESH_MS = 2000;
const NODE_W = 230, NODE_H = 92, LEAVE_W = 90, LEAVE_H = 26, ENTRY_H = 30, LEAVE_LINE = 15;
const MINIMAP_FROM = 20; // elements from which the minimap shows
const SVG = "http://www.w3.org/2000/svg";

// The lifecycle actions, in button order, and the statuses each may
// start from (as the engine allows them).
const LIFECYCLE = {
  activate: { label: "Activate", from: ["draft"], confirm: "Activate the flow? People start entering it." },
  resume: { label: "Resume", from: ["paused"], confirm: "Resume the flow? Entries and waiting participants go on." },
  pause: { label: "Pause", from: ["active"], confirm: "Pause the flow? No one enters and waiting participants are held until it resumes." },
  finish: { label: "Finish", from: ["active", "paused"], confirm: "Finish the flow? No one enters any more; participants already in it go on to the end." },
  cancel: { label: "Cancel flow", from: ["draft", "active", "paused", "finished"], confirm: "Cancel the flow? Every participant still in it leaves." },
};

const state = {
  flows: [],
  canPeople: false,
  signIn: false,
  flow: null,        // the flow record
  version: 0,        // 0: every version
  docs: new Map(),   // version -> document (immutable once published)
  graph: null,       // what is drawn: { elements, byId, start, entries, exitRules, goals }
  stats: null,
  element: "",       // the element picked: side panel and list filter
  cursor: { after: "", before: "" },
  listSeq: 0,
  page: null,
  view: { x: 0, y: 0, k: 1 },
  size: { w: 0, h: 0 },
  timer: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "scope") e.setAttribute(k, v);
    else if (k === "onclick") e.addEventListener("click", v);
    else e[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
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
  if (state.signIn) show("");
  return body;
}

function post(path, body) {
  return api(path, { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
}

function show(msg) {
  if (state.signIn && msg) return;
  const m = $("message");
  m.textContent = msg || "";
  m.hidden = !msg;
  state.signIn = false;
}

function askSignIn(loginUrl) {
  const m = $("message");
  m.replaceChildren("You are not signed in. ");
  if (loginUrl) m.append(el("a", { id: "sign-in", href: loginUrl }, "Sign in"), " to use the console.");
  else m.append("Sign in to use the console.");
  m.hidden = false;
  state.signIn = true;
}

// ---- numbers and times

const n = (x) => Number(x || 0).toLocaleString("en-US");
const pct = (part, whole) => (whole > 0 ? (100 * part / whole).toFixed(part === whole || part === 0 ? 0 : 1) + "%" : "–");
const sum = (m) => Object.values(m || {}).reduce((a, b) => a + b, 0);

function zone() { return (state.flow && state.flow.timezone) || "UTC"; }

// when shows a time in the flow's time zone, labelled with it.
function when(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d)) return t;
  let s;
  try {
    s = new Intl.DateTimeFormat("sv-SE", { timeZone: zone(), year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(d);
  } catch (_) {
    s = d.toISOString().replace("T", " ").slice(0, 19);
    return s + " UTC";
  }
  return s + " " + zone();
}

function timeEl(t) {
  return el("time", { dateTime: t || "", title: t || "" }, when(t));
}

// ---- deep links

function linkState() {
  const q = new URLSearchParams();
  if (state.flow) q.set("flow", state.flow.id);
  if (state.version) q.set("version", String(state.version));
  if (state.element) q.set("element", state.element);
  if (state.participant) q.set("participant", state.participant);
  if (state.person) q.set("person", state.person);
  const url = "?" + q;
  if (location.search !== url) history.replaceState(null, "", url);
}

// ---- flows and versions

async function loadFlows() {
  const { flows, can } = await api("flows");
  state.flows = flows;
  state.canPeople = can.includes("readPeople");
  $("search-panel").hidden = !state.canPeople;
  const sel = $("flow");
  sel.replaceChildren(...flows.map((f) => el("option", { value: f.id }, f.name ? f.name + " (" + f.id + ")" : f.id)));
  if (!flows.length) {
    show("No flows are published yet.");
    return;
  }
  const link = new URLSearchParams(location.search);
  const want = link.get("flow");
  await pickFlow(flows.some((f) => f.id === want) ? want : flows[0].id, link);
}

async function pickFlow(id, link) {
  $("flow").value = id;
  state.flow = await api("flows/" + encodeURIComponent(id));
  state.docs = new Map();
  state.element = "";
  state.participant = "";
  state.person = "";
  let v = 0;
  if (link && link.get("version")) {
    const want = Number(link.get("version"));
    if (state.flow.versions.some((x) => x.version === want)) v = want;
  }
  showVersions();
  showStatus();
  await pickVersion(v, link);
  loadAudit().catch(() => {});
  if (link && link.get("participant")) openParticipant(link.get("participant"));
  if (link && link.get("person") && state.canPeople) findPerson({ id: link.get("person") });
}

function versionLabel(v) {
  return "v" + v.version + (v.version === state.flow.latest ? " (latest)" : "") + " · " + n(v.inFlow) + " in flow · " + n(v.entered) + " entered";
}

// showVersions fills the version picker, changing only the labels of
// options already there, so that a user choosing is not disturbed.
function showVersions() {
  const vs = $("version");
  const total = state.flow.versions.reduce((a, v) => a + v.inFlow, 0);
  const want = [["0", "All versions · " + n(total) + " in flow", ""]].concat(state.flow.versions.slice().reverse().map((v) => [String(v.version), versionLabel(v), "published " + when(v.publishedAt)]));
  if ([...vs.options].map((o) => o.value).join() === want.map((w) => w[0]).join()) {
    want.forEach(([, text, title], i) => { if (vs.options[i].textContent !== text) vs.options[i].textContent = text; vs.options[i].title = title; });
  } else {
    vs.replaceChildren(...want.map(([value, text, title]) => el("option", { value, title }, text)));
    vs.value = String(state.version);
  }
  $("open-migration").hidden = !(state.flow.can || []).includes("migrate") || state.flow.versions.length < 2;
}

function showStatus() {
  const s = $("status");
  s.textContent = state.flow.status;
  s.className = "badge " + state.flow.status;
  showActions();
}

// showActions shows the lifecycle actions that the user may take and the
// flow's status allows now; the server checks both again.
function showActions() {
  const can = state.flow.can || [];
  const box = $("actions");
  const want = Object.keys(LIFECYCLE).filter((a) => can.includes(a) && LIFECYCLE[a].from.includes(state.flow.status));
  const shown = [...box.querySelectorAll("button")].map((b) => b.dataset.action);
  if (shown.join() === want.join()) return;
  box.replaceChildren(...want.map((a) => el("button", { type: "button", "data-action": a, onclick: () => act(a) }, LIFECYCLE[a].label)));
}

async function doc(v) {
  if (!state.docs.has(v)) {
    const d = await api("flows/" + encodeURIComponent(state.flow.id) + "/versions/" + v);
    state.docs.set(v, d.document);
  }
  return state.docs.get(v);
}

// graphOf is what the page draws: one version's document, or for every
// version the latest one with the elements and branches only earlier
// versions have.
async function graphOf(v) {
  const versions = v ? [v] : state.flow.versions.map((x) => x.version).reverse();
  const docs = await Promise.all(versions.map(doc));
  const latest = docs[0];
  const elements = [];
  const byId = new Map();
  docs.forEach((d, i) => {
    for (const e of d.elements || []) {
      const have = byId.get(e.id);
      if (have) {
        have.versions.push(versions[i]);
        for (const [b, t] of Object.entries(e.next || {})) if (!(b in have.next)) have.next[b] = t;
        continue;
      }
      const copy = Object.assign({}, e, { next: Object.assign({}, e.next || {}), versions: [versions[i]] });
      byId.set(e.id, copy);
      elements.push(copy);
    }
  });
  return {
    elements, byId,
    start: latest.start || (latest.elements[0] && latest.elements[0].id),
    entries: entriesOf(latest),
    exitRules: latest.exitRules || [],
    goals: latest.goals || [],
    timezone: latest.timezone || "UTC",
  };
}

function entriesOf(d) {
  const out = [];
  for (const en of d.entries || []) {
    let what = en.type;
    if (en.event) what += ": " + en.event.name;
    if (en.date) what += ": " + (en.date.attribute || "");
    if (en.schedule) what += " · every " + en.schedule.every + (en.schedule.at ? " at " + en.schedule.at : "");
    if (en.whenMatching) what += " · when matching";
    out.push(what);
  }
  if (!(d.entries || []).length) { // the engine's default entries
    out.push("api", "existingFlow");
    if (d.trigger) out.push("event: " + d.trigger.name);
  }
  return out;
}

async function pickVersion(v, link) {
  state.version = Number(v) || 0;
  $("version").value = String(state.version);
  // The counts and the list load while the graph is laid out.
  const stats = fetchStats();
  const want = link && link.get("element");
  state.element = want || "";
  let list = loadParticipants("first");
  state.graph = await graphOf(state.version);
  if (state.element && !state.graph.byId.has(state.element)) { // a link to an element the version lacks
    state.element = "";
    list = list.then(() => loadParticipants("first"));
  }
  drawGraph();
  fit();
  applyStats(await stats);
  showElement();
  await list;
  linkState();
}

// ---- the graph

function nodeLabel(e) { return e.name || e.id; }

// drawGraph lays the graph out left to right, or top to bottom when
// that fits the view better (a split into many branches is tall drawn
// left to right), and draws it.
function drawGraph() {
  performance.mark("layout");
  try { layoutAndRender(); } finally { performance.measure("layout", "layout"); }
}

function layoutAndRender() {
  const box = $("graph").getBoundingClientRect();
  let g = layoutGraph("LR");
  const fitOf = (x) => Math.min(box.width / x.graph().width, box.height / x.graph().height);
  // A second layout costs as much as the first: only small flows try it.
  if (box.width && fitOf(g) < 0.5 && state.graph.elements.length <= 40) {
    const tb = layoutGraph("TB");
    if (fitOf(tb) > fitOf(g)) g = tb;
  }
  render(g);
}

function layoutGraph(rankdir) {
  const G = state.graph;
  const g = new dagre.graphlib.Graph({ multigraph: true });
  // network-simplex ranks best; longest-path is much faster on large flows.
  const ranker = G.elements.length > 50 ? "longest-path" : "network-simplex";
  g.setGraph({ rankdir, ranker, nodesep: 28, ranksep: 70, edgesep: 14, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  G.entries.forEach((en, i) => g.setNode("\u0000entry" + i, { width: Math.max(110, 7.2 * (en.length + 7) + 24), height: ENTRY_H, kind: "entry", text: "enter: " + en }));
  // Branches that leave the flow are listed inside their element, not
  // drawn as nodes: a flow of many waits would double its nodes.
  const leaving = (e) => Object.entries(e.next || {}).filter(([, t]) => !t).map(([b]) => b);
  for (const e of G.elements) g.setNode(e.id, { width: NODE_W, height: NODE_H + LEAVE_LINE * leaving(e).length, kind: "element", e, leaving: leaving(e) });
  G.entries.forEach((_, i) => { if (G.byId.has(G.start)) g.setEdge("\u0000entry" + i, G.start, { kind: "entry" }, "enter" + i); });
  for (const e of G.elements) {
    for (const [branch, target] of Object.entries(e.next || {})) {
      if (!target) continue;
      let to = target;
      if (!G.byId.has(target)) { // a target no version has
        to = "\u0000missing:" + e.id + ":" + branch;
        g.setNode(to, { width: LEAVE_W, height: LEAVE_H, kind: "leave", text: "⚠ " + target });
      }
      g.setEdge(e.id, to, { width: 7 * branch.length + 90, height: 28, labelpos: "c", branch, from: e.id }, branch);
    }
  }
  dagre.layout(g);
  return g;
}

function render(g) {
  const root = $("viewport");
  root.replaceChildren();
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.append(marker);
  const edges = svg("g", { class: "edges" }), labels = svg("g", { class: "labels" }), nodes = svg("g", { class: "nodes" });
  root.append(defs, edges, nodes, labels);
  for (const ref of g.edges()) {
    const ed = g.edge(ref);
    const d = ed.points.map((p, i) => (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1)).join(" ");
    const path = svg("path", { class: "edge" + (ed.kind === "entry" ? " entry-edge" : ""), d, "marker-end": "url(#arrow)" });
    if (ed.branch) path.dataset.edge = ed.from + ":" + ed.branch;
    edges.append(path);
    if (ed.branch) {
      const t = svg("text", { class: "edge-label", x: ed.x, y: ed.y - 4, "text-anchor": "middle", "data-left": ed.from + ":" + ed.branch });
      t.append(svg("tspan", { x: ed.x, dy: 0 }, ed.branch), svg("tspan", { x: ed.x, dy: 13, class: "edge-count" }, ""));
      labels.append(t);
    }
  }
  for (const id of g.nodes()) {
    const nd = g.node(id);
    const x = nd.x - nd.width / 2, y = nd.y - nd.height / 2;
    if (nd.kind === "entry" || nd.kind === "leave") {
      const grp = svg("g", { class: nd.kind, transform: `translate(${x},${y})` });
      grp.append(svg("rect", { width: nd.width, height: nd.height, rx: nd.height / 2 }), svg("text", { x: nd.width / 2, y: nd.height / 2 + 4, "text-anchor": "middle" }, nd.text));
      nodes.append(grp);
      continue;
    }
    const e = nd.e;
    const label = nodeLabel(e);
    const node = svg("g", { class: "node kind-" + e.type, "data-element": e.id, transform: `translate(${x},${y})`, tabindex: "0", role: "button", "aria-label": "Element " + label + " (" + e.type + ")" });
    node.append(svg("rect", { width: NODE_W, height: nd.height, rx: 6 }));
    node.append(svg("text", { class: "title", x: 10, y: 18 }, truncate(label, 28)));
    node.append(svg("text", { class: "kind", x: 10, y: 33 }, truncate(e.type + (e.name ? " · " + e.id : "") + (state.version ? "" : " · v" + e.versions.slice().sort((a, b) => a - b).join(",")), 36)));
    const counts = svg("text", { class: "counts", x: 10, y: 51 });
    counts.append(svg("tspan", {}, "in "), svg("tspan", { "data-count": "entered" }, "0"),
      svg("tspan", {}, " · wait "), svg("tspan", { "data-count": "waiting" }, "0"),
      svg("tspan", {}, " · flight "), svg("tspan", { "data-count": "inFlight" }, "0"),
      svg("tspan", {}, " · err "), svg("tspan", { "data-count": "errors", class: "errors" }, "0"));
    node.append(counts);
    node.append(svg("text", { class: "outcomes", x: 10, y: 67, "data-count": "outcomes" }, ""));
    node.append(svg("text", { class: "experiment", x: 10, y: 83, "data-count": "experiment" }, ""));
    nd.leaving.forEach((b, i) => {
      const t = svg("text", { class: "exit-label", x: 10, y: NODE_H + 6 + LEAVE_LINE * i, "data-left": e.id + ":" + b });
      t.append(svg("tspan", {}, "⏏ " + b + " leaves: "), svg("tspan", { class: "edge-count" }, ""));
      node.append(t);
    });
    node.append(svg("title", {}, e.id + " (" + e.type + ")"));
    const pick = () => pickElement(e.id);
    node.addEventListener("click", pick);
    node.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pick(); } });
    nodes.append(node);
  }
  const gr = g.graph();
  state.size = { w: gr.width || 0, h: gr.height || 0 };
  drawRules();
  drawMinimap(g);
}

function truncate(s, max) { s = String(s); return s.length > max ? s.slice(0, max - 1) + "…" : s; }

// drawRules lists the flow's exit rules and goals above the graph, with
// their counts once the stats come.
function drawRules() {
  const G = state.graph;
  const box = $("rules");
  const items = [];
  for (const [i, r] of G.exitRules.entries()) {
    const name = r.name || "exit[" + i + "]";
    const what = r.event ? "on " + r.event.name : r.unless ? "unless matching" : "";
    items.push(el("span", { class: "rule exit-rule", "data-rule": name }, "⊘ exit rule " + name + " " + what + ": ", el("b", { "data-rule-count": name }, "0")));
  }
  for (const goal of G.goals) {
    const within = goal.within && goal.within.amount ? " within " + goal.within.amount + " " + goal.within.unit : "";
    items.push(el("span", { class: "rule goal", "data-goal": goal.name }, "★ goal " + goal.name + " (" + ((goal.event && goal.event.name) || "") + within + "): ", el("b", { "data-goal-count": goal.name }, "0")));
  }
  box.replaceChildren(...items);
}

// ---- zoom, pan, fit, minimap

function applyView() {
  const v = state.view;
  $("viewport").setAttribute("transform", `translate(${v.x},${v.y}) scale(${v.k})`);
  $("zoom-level").textContent = Math.round(v.k * 100) + "%";
  $("graph").dataset.zoom = v.k.toFixed(3);
  updateMinimapView();
}

function fit() {
  const box = $("graph").getBoundingClientRect();
  const { w, h } = state.size;
  if (!w || !h || !box.width) return;
  const k = Math.min(1.2, box.width / w, box.height / h);
  state.view = { k, x: (box.width - w * k) / 2, y: (box.height - h * k) / 2 };
  applyView();
}

function zoomAt(factor, cx, cy) {
  const v = state.view;
  const k = Math.max(0.05, Math.min(4, v.k * factor));
  const box = $("graph").getBoundingClientRect();
  if (cx === undefined) { cx = box.width / 2; cy = box.height / 2; }
  v.x = cx - (cx - v.x) * (k / v.k);
  v.y = cy - (cy - v.y) * (k / v.k);
  v.k = k;
  applyView();
}

function wireView() {
  const g = $("graph");
  g.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const box = g.getBoundingClientRect();
    zoomAt(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - box.left, ev.clientY - box.top);
  }, { passive: false });
  let drag = null;
  g.addEventListener("pointerdown", (ev) => {
    if (ev.target.closest(".node")) return;
    drag = { x: ev.clientX, y: ev.clientY, vx: state.view.x, vy: state.view.y };
    g.setPointerCapture(ev.pointerId);
    g.classList.add("panning");
  });
  g.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    state.view.x = drag.vx + ev.clientX - drag.x;
    state.view.y = drag.vy + ev.clientY - drag.y;
    applyView();
  });
  const end = () => { drag = null; g.classList.remove("panning"); };
  g.addEventListener("pointerup", end);
  g.addEventListener("pointercancel", end);
  $("zoom-in").addEventListener("click", () => zoomAt(1.25));
  $("zoom-out").addEventListener("click", () => zoomAt(1 / 1.25));
  $("zoom-fit").addEventListener("click", fit);
  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest("input, select, textarea, dialog")) return;
    if (ev.key === "+" || ev.key === "=") zoomAt(1.25);
    else if (ev.key === "-") zoomAt(1 / 1.25);
    else if (ev.key === "0") fit();
  });
  $("minimap").addEventListener("click", (ev) => {
    const mm = $("minimap");
    const pt = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(mm.getScreenCTM().inverse());
    const gx = pt.x, gy = pt.y;
    const gb = $("graph").getBoundingClientRect();
    state.view.x = gb.width / 2 - gx * state.view.k;
    state.view.y = gb.height / 2 - gy * state.view.k;
    applyView();
  });
  window.addEventListener("resize", () => updateMinimapView());
}

// drawMinimap draws the whole graph small, in a fixed frame, with the
// part the view shows outlined.
function drawMinimap(g) {
  const mm = $("minimap");
  const { w, h } = state.size;
  // An SVG element has no hidden property: the attribute it is.
  mm.toggleAttribute("hidden", state.graph.elements.length < MINIMAP_FROM);
  if (mm.hasAttribute("hidden") || !w) return;
  mm.setAttribute("width", "180");
  mm.setAttribute("height", "120");
  mm.setAttribute("viewBox", `0 0 ${w} ${h}`);
  mm.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const nodes = svg("g");
  for (const id of g.nodes()) {
    const nd = g.node(id);
    nodes.append(svg("rect", { x: nd.x - nd.width / 2, y: nd.y - nd.height / 2, width: nd.width, height: nd.height, class: "mm-" + nd.kind }));
  }
  mm.replaceChildren(nodes, svg("rect", { id: "minimap-view", class: "mm-view", "vector-effect": "non-scaling-stroke" }));
  updateMinimapView();
}

function updateMinimapView() {
  const r = $("minimap-view");
  if (!r || $("minimap").hasAttribute("hidden")) return;
  const v = state.view;
  const gb = $("graph").getBoundingClientRect();
  r.setAttribute("x", -v.x / v.k);
  r.setAttribute("y", -v.y / v.k);
  r.setAttribute("width", gb.width / v.k);
  r.setAttribute("height", gb.height / v.k);
}

// ---- counts

function statsPath() {
  const f = encodeURIComponent(state.flow.id);
  return state.version ? "flows/" + f + "/versions/" + state.version + "/stats" : "flows/" + f + "/stats";
}

async function refreshStats() {
  if (!state.flow) return;
  applyStats(await fetchStats());
}

// fetchStats reads the counts of the flow and version shown now.
async function fetchStats() {
  const want = { flow: state.flow.id, version: state.version };
  const st = await api(statsPath());
  st.want = want;
  return st;
}

function applyStats(st) {
  if (st.want.flow !== state.flow.id || st.want.version !== state.version) return; // the user moved on
  state.stats = st;
  state.stats.byId = new Map(st.elements.map((e) => [e.id, e]));
  const g = $("graph");
  const goal = (st.goals || [])[0];
  const ruleTotals = {}, goalTotals = {};
  for (const e of st.elements) {
    for (const [r, c] of Object.entries(e.exitRules || {})) ruleTotals[r] = (ruleTotals[r] || 0) + c;
    const node = g.querySelector(`.node[data-element="${CSS.escape(e.id)}"]`);
    if (!node) continue;
    for (const k of ["entered", "waiting", "inFlight", "errors"]) node.querySelector(`[data-count="${k}"]`).textContent = n(e[k]);
    node.querySelector(".errors").classList.toggle("some", e.errors > 0);
    const left = sum(e.left), exits = sum(e.exitRules);
    const stopped = Math.max(0, e.entered - left - e.waiting - e.inFlight);
    let out = "";
    if (goal) {
      const c = (e.conversions || {})[goal] || 0;
      out += "conv " + n(c) + " (" + pct(c, e.entered) + ")";
    }
    if (exits) out += (out ? " · " : "") + "exit rules " + n(exits);
    if (e.entered && e.type !== "exit") out += (out ? " · " : "") + "drop " + pct(stopped, e.entered);
    node.querySelector('[data-count="outcomes"]').textContent = out;
    node.setAttribute("aria-label", "Element " + nodeLabel(state.graph.byId.get(e.id) || e) + " (" + e.type + "): " + n(e.entered) + " entered, " + n(e.waiting) + " waiting, " + n(e.errors) + " errors");
    for (const [branch, count] of Object.entries(e.left || {})) {
      const label = g.querySelector(`[data-left="${CSS.escape(e.id + ":" + branch)}"] .edge-count`);
      if (!label) continue;
      let text = n(count) + " (" + pct(count, e.entered) + ")";
      const bc = ((e.branchConversions || {})[branch] || {})[goal];
      if (goal && count) text += " · conv " + pct(bc || 0, count);
      label.textContent = text;
    }
  }
  for (const name of st.goals || []) {
    const start = st.byId.get(state.graph.start);
    goalTotals[name] = start ? (start.conversions || {})[name] || 0 : 0;
  }
  for (const b of document.querySelectorAll("[data-rule-count]")) b.textContent = n(ruleTotals[b.dataset.ruleCount] || 0) + " exits";
  for (const b of document.querySelectorAll("[data-goal-count]")) {
    const start = st.byId.get(state.graph.start);
    b.textContent = n(goalTotals[b.dataset.goalCount]) + " conversions (" + pct(goalTotals[b.dataset.goalCount], start ? start.entered : 0) + ")";
  }
  drawExperiments();
  if (state.element) showElement();
  g.dataset.loaded = "1";
  $("updated").textContent = "updated " + when(new Date().toISOString());
}

// experimentsOf returns the experiment results of an element shown for
// the selected version (all of them for every version).
function experimentsOf(id) {
  return ((state.stats && state.stats.experiments) || []).filter((x) => x.element === id && (!state.version || x.version === state.version));
}

function drawExperiments() {
  for (const node of document.querySelectorAll("#graph .node")) {
    const xs = experimentsOf(node.dataset.element);
    const t = node.querySelector('[data-count="experiment"]');
    if (!xs.length) { t.textContent = ""; continue; }
    const x = xs[0];
    const best = x.variants.slice().sort((a, b) => b.rate - a.rate)[0];
    t.textContent = "A/B v" + x.version + ": " + (x.winner ? "winner " + x.winner : "leading " + (best ? best.name + " " + rate(best.rate) : "–"));
    t.classList.toggle("decided", !!x.winner);
  }
}

const rate = (r) => (100 * (r || 0)).toFixed(1) + "%";

// ---- the element panel

function pickElement(id) {
  state.element = id;
  showElement();
  loadParticipants("first").catch((err) => show(err.message));
  linkState();
}

function showElement() {
  const panel = $("element-panel");
  for (const node of $("graph").querySelectorAll(".node")) node.classList.toggle("selected", node.dataset.element === state.element);
  const e = state.element && state.graph.byId.get(state.element);
  if (!e) { panel.hidden = true; return; }
  panel.hidden = false;
  $("element-title").textContent = nodeLabel(e);
  const s = (state.stats && state.stats.byId.get(e.id)) || { entered: 0, waiting: 0, inFlight: 0, errors: 0, left: {}, exitRules: {}, conversions: {}, branchConversions: {} };
  const body = [];
  body.push(el("dl", {},
    el("dt", {}, "id"), el("dd", { class: "mono" }, e.id),
    el("dt", {}, "kind"), el("dd", {}, e.type),
    el("dt", {}, "versions"), el("dd", {}, e.versions.slice().sort((a, b) => a - b).map((v) => "v" + v).join(", ")),
    el("dt", {}, "entered"), el("dd", {}, n(s.entered)),
    el("dt", {}, "waiting"), el("dd", {}, n(s.waiting)),
    el("dt", {}, "in flight"), el("dd", {}, n(s.inFlight)),
    el("dt", {}, "errors"), el("dd", {}, n(s.errors))));
  const goals = (state.stats && state.stats.goals) || [];
  const branches = el("table", { class: "list", id: "element-branches" }, el("thead", {}, el("tr", {},
    el("th", { scope: "col" }, "Branch"), el("th", { scope: "col" }, "To"), el("th", { scope: "col" }, "Left"), el("th", { scope: "col" }, "Share"),
    ...goals.map((gl) => el("th", { scope: "col" }, "Conv. " + gl)))));
  const tb = el("tbody");
  for (const [b, target] of Object.entries(e.next || {})) {
    const left = (s.left || {})[b] || 0;
    tb.append(el("tr", { "data-branch": b }, el("td", {}, b), el("td", {}, target || "leaves the flow"), el("td", {}, n(left)), el("td", {}, pct(left, s.entered)),
      ...goals.map((gl) => { const c = ((s.branchConversions || {})[b] || {})[gl] || 0; return el("td", {}, n(c) + " (" + pct(c, left) + ")"); })));
  }
  branches.append(tb);
  body.push(el("h3", {}, "Branches"), branches);
  if (goals.length) {
    body.push(el("h3", {}, "Conversions"), el("ul", { id: "element-conversions" }, ...goals.map((gl) => {
      const c = (s.conversions || {})[gl] || 0;
      return el("li", {}, gl + ": " + n(c) + " of " + n(s.entered) + " (" + pct(c, s.entered) + ")");
    })));
  }
  if (Object.keys(s.exitRules || {}).length) {
    body.push(el("h3", {}, "Exit rules here"), el("ul", {}, ...Object.entries(s.exitRules).map(([r, c]) => el("li", {}, r + ": " + n(c)))));
  }
  for (const x of experimentsOf(e.id)) body.push(experimentTable(x));
  body.push(el("h3", {}, "Configuration"), configView(e));
  body.push(el("button", { type: "button", onclick: () => $("participants-panel").scrollIntoView({ block: "start" }) }, "Participants here ↓"));
  $("element-body").replaceChildren(...body);
}

function experimentTable(x) {
  const t = el("table", { class: "list experiment", "data-experiment": x.element + ":" + x.version },
    el("caption", {}, "Experiment v" + x.version + ": " + (x.winner ? "winner " + x.winner + (x.decidedAt ? " (decided " + when(x.decidedAt) + ")" : "") : "no winner yet")),
    el("thead", {}, el("tr", {}, ...["Variant", "People", "Conv.", "Rate", "95% interval", "Lift", "p", ""].map((h) => el("th", { scope: "col" }, h)))));
  const tb = el("tbody");
  for (const v of x.variants) {
    tb.append(el("tr", { "data-variant": v.name, class: v.name === x.winner ? "winner" : "" },
      el("td", {}, v.name + (v.control ? " (control)" : "")), el("td", {}, n(v.participants)), el("td", {}, n(v.conversions)), el("td", {}, rate(v.rate)),
      el("td", {}, rate(v.low) + " – " + rate(v.high)), el("td", {}, v.control ? "–" : (v.lift >= 0 ? "+" : "") + rate(v.lift)),
      el("td", {}, v.control ? "–" : Number(v.pValue).toFixed(3)), el("td", {}, v.significant ? "significant" : "")));
  }
  t.append(tb);
  return t;
}

// configView shows an element's configuration: every field but its id,
// kind, name and branches. Host settings appear as the document holds
// them, {{env.NAME}} placeholders; their values never reach the page.
function configView(e) {
  const cfg = {};
  for (const [k, v] of Object.entries(e)) if (!["id", "type", "name", "next", "versions"].includes(k)) cfg[k] = v;
  const text = JSON.stringify(cfg, null, 2);
  const pre = el("pre", { class: "config", id: "element-config" });
  const re = /\{\{\s*env\.[A-Za-z0-9_]+\s*\}\}/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    pre.append(text.slice(last, m.index), el("mark", { class: "setting", title: "a host setting: its value is not shown" }, m[0]));
    last = m.index + m[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

// ---- participants

async function loadParticipants(dir) {
  if (!state.flow) return;
  if (dir === "first") state.cursor = { after: "", before: "" };
  else if (dir === "next") state.cursor = { after: state.page.next, before: "" };
  else if (dir === "prev") state.cursor = { after: "", before: state.page.prev };
  const q = new URLSearchParams();
  const status = $("participants-status").value, reason = $("participants-reason").value.trim();
  if (status) q.set("status", status);
  if (state.element) q.set("element", state.element);
  if (state.version) q.set("version", String(state.version));
  if (reason) q.set("reason", reason);
  q.set("sort", $("participants-sort").value);
  if (state.cursor.after) q.set("after", state.cursor.after);
  if (state.cursor.before) q.set("before", state.cursor.before);
  q.set("limit", "25");
  const seq = ++state.listSeq; // a later request's answer wins
  $("participants-filter").textContent = [state.element ? "at " + state.element : "", state.version ? "v" + state.version : "all versions"].filter(Boolean).join(" · ");
  const page = await api("flows/" + encodeURIComponent(state.flow.id) + "/participants?" + q);
  if (seq !== state.listSeq) return;
  state.page = page;
  const can = state.flow.can || [];
  const body = $("participants").querySelector("tbody");
  body.replaceChildren(...page.participants.map((p) => participantRow(p, can.includes("operate"))));
  if (!page.participants.length) body.append(el("tr", {}, el("td", { colSpan: 4, class: "muted" }, "No participants here.")));
  $("participants").dataset.element = state.element;
  $("participants").dataset.version = String(state.version);
  $("participants-total").textContent = page.total === undefined ? "" : n(page.total) + " participant" + (page.total === 1 ? "" : "s") + (state.element ? " at " + state.element : "");
  $("participants-next").disabled = !page.next;
  $("participants-prev").disabled = !page.prev;
  showBulk(can);
}

function participantRow(p, canOperate) {
  const who = p.person ? p.person.externalId || p.person.name || p.personId : p.personId;
  const contact = p.person ? [p.person.email, p.person.phone].filter(Boolean).join(" · ") : "";
  const actions = el("td", { class: "row-actions" });
  if (canOperate && ["active", "waiting", "inflight"].includes(p.status)) {
    actions.append(el("button", { type: "button", "data-row-action": "cancel", "aria-label": "Cancel participant " + p.id, onclick: (ev) => { ev.stopPropagation(); participantAction(p, "cancel"); } }, "Cancel"));
  }
  if (canOperate && p.status === "failed") {
    actions.append(el("button", { type: "button", "data-row-action": "retry", "aria-label": "Retry participant " + p.id, onclick: (ev) => { ev.stopPropagation(); participantAction(p, "retry"); } }, "Retry"));
  }
  const open = () => openParticipant(p.id);
  const tr = el("tr", { "data-participant": p.id, tabIndex: 0, onclick: open },
    el("td", {}, el("a", { href: "?flow=" + encodeURIComponent(p.flowId) + "&participant=" + encodeURIComponent(p.id), class: "who", onclick: (ev) => { ev.preventDefault(); } }, who),
      p.person && p.person.name && p.person.externalId ? el("span", { class: "muted name" }, " " + p.person.name) : null,
      contact ? el("div", { class: "contact muted" }, contact) : null),
    el("td", {}, el("span", { class: "badge " + p.status }, p.status), p.reason ? el("div", { class: "reason", "data-reason": "1", title: p.reason }, p.reason) : null),
    el("td", {}, p.element, el("span", { class: "muted version" }, " v" + p.flowVersion), el("div", { class: "since muted" }, "since ", timeEl(p.arrivedAt))),
    actions);
  tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
  return tr;
}

async function participantAction(p, action) {
  const what = action === "cancel" ? "Cancel this participant? They leave the flow now." : "Retry this participant? The failed element runs again.";
  if (!confirm(what)) return;
  try {
    const np = await post("participants/" + encodeURIComponent(p.id) + "/" + action);
    show("");
    showJourney(np);
    await loadParticipants("same");
    loadAudit().catch(() => {});
  } catch (err) { show(action + ": " + err.message); }
}

// showBulk offers to cancel or retry every participant the list's
// filters select, for users who may operate.
function showBulk(can) {
  const box = $("bulk");
  if (!can.includes("operate")) { box.replaceChildren(); return; }
  box.replaceChildren(
    el("button", { type: "button", id: "bulk-cancel", onclick: () => bulk("cancel") }, "Cancel all matching…"),
    el("button", { type: "button", id: "bulk-retry", onclick: () => bulk("retry") }, "Retry all failed matching…"));
}

async function bulk(action) {
  const sel = { action, version: state.version, element: state.element, reason: $("participants-reason").value.trim() };
  const st = $("participants-status").value;
  if (st) sel.status = st;
  try {
    const dry = await post("flows/" + encodeURIComponent(state.flow.id) + "/operations", Object.assign({ dryRun: true }, sel));
    const refusals = Object.entries(dry.refusals || {}).map(([r, c]) => r + ": " + c).join("; ");
    if (!confirm(action + " " + dry.changed + " participant(s)?" + (dry.refused ? " " + dry.refused + " would be refused (" + refusals + ")." : ""))) return;
    const done = await post("flows/" + encodeURIComponent(state.flow.id) + "/operations", sel);
    $("bulk-result").textContent = action + ": " + done.changed + " changed, " + done.refused + " refused of " + done.total + ".";
    await loadParticipants("first");
    loadAudit().catch(() => {});
  } catch (err) { show(action + ": " + err.message); }
}

async function openParticipant(id) {
  try {
    showJourney(await api("participants/" + encodeURIComponent(id)));
  } catch (err) { show(err.status === 404 ? "No participant " + id + " here." : err.message); }
}

// showJourney shows a participant's journey and brings it into view,
// unless quiet.
function showJourney(p, opts) {
  state.participant = p.id;
  linkState();
  const box = $("journey");
  const facts = el("dl", {},
    el("dt", {}, "participant"), el("dd", { class: "mono" }, el("a", { href: "?flow=" + encodeURIComponent(p.flowId) + "&participant=" + encodeURIComponent(p.id) }, p.id)),
    el("dt", {}, "person"), el("dd", { class: "mono" }, state.canPeople ? el("a", { href: "?flow=" + encodeURIComponent(p.flowId) + "&person=" + encodeURIComponent(p.personId), onclick: (ev) => { ev.preventDefault(); findPerson({ id: p.personId }); } }, p.personId) : p.personId),
    el("dt", {}, "flow"), el("dd", {}, p.flowId + " v" + p.flowVersion),
    el("dt", {}, "status"), el("dd", { "data-journey-status": p.status }, p.status + (p.reason ? ": " + p.reason : "")),
    el("dt", {}, "at"), el("dd", {}, p.element + " since ", timeEl(p.arrivedAt)),
    el("dt", {}, "entered"), el("dd", {}, timeEl(p.enteredAt)));
  if (p.exitedAt) facts.append(el("dt", {}, "left"), el("dd", {}, timeEl(p.exitedAt)));
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
  if (opts && opts.quiet) return;
  const panel = $("journey-panel");
  panel.scrollIntoView({ block: "start" });
  panel.focus({ preventScroll: true });
}

// ---- people

async function search(ev) {
  ev.preventDefault();
  const key = $("search-key").value, value = $("search-value").value.trim();
  if (!value) return;
  await findPerson({ [key]: value });
}

async function findPerson(ref) {
  const key = Object.keys(ref)[0];
  const box = $("person");
  try {
    const page = await api("person?" + new URLSearchParams(ref));
    show("");
    const p = page.person;
    state.person = p.id;
    linkState();
    const name = [p.firstName, p.lastName].filter(Boolean).join(" ") || p.externalId || p.id;
    const attrs = el("table", { class: "list", id: "person-attributes" }, el("caption", {}, "Attributes"));
    const tb = el("tbody");
    const rows = [["id", p.id], ["external id", p.externalId], ["first name", p.firstName], ["last name", p.lastName], ["emails", (p.emails || []).join(", ")],
      ["phones", (p.phones || []).join(", ")], ["gender", p.gender], ["birth date", p.birthDate], ["city", p.city], ["country", p.country],
      ["language", p.preferredLanguage], ["time zone", p.timeZone], ["tags", (p.tags || []).join(", ")], ["do not contact", (p.doNotContact || []).join(", ")],
      ["push apps", (p.pushApps || []).join(", ")]];
    for (const [k, v] of Object.entries(p.attributes || {}).sort()) rows.push([k, typeof v === "string" ? v : JSON.stringify(v), "custom"]);
    rows.push(["created", when(p.createdAt)], ["updated", when(p.updatedAt)]);
    for (const [k, v, custom] of rows) tb.append(el("tr", { "data-attribute": k, class: custom ? "custom" : "" }, el("th", { scope: "row" }, k), el("td", {}, v || "—")));
    attrs.append(tb);
    const parts = el("ol", {}, ...page.participations.map((part) => el("li", { "data-participation": part.id, tabIndex: 0, onclick: () => showJourney(part) },
      el("span", { class: "badge " + part.status }, part.status), " ", part.flowId + " v" + part.flowVersion + " at " + part.element,
      el("br"), el("span", { class: "muted" }, "entered " + when(part.enteredAt) + (part.reason ? " · " + part.reason : "")))));
    if (!page.participations.length) parts.append(el("li", { class: "muted" }, "In no flow."));
    const history = el("table", { class: "list", id: "history" }, el("caption", {}, "Event history"),
      el("thead", {}, el("tr", {}, ...["Time", "Category", "Name", "Properties"].map((h) => el("th", { scope: "col" }, h)))));
    const hb = el("tbody");
    history.append(hb);
    const more = el("button", { type: "button" }, "older events");
    box.replaceChildren(el("h3", {}, name), attrs, el("h3", {}, "Participations"), parts, history, more);
    let before = "";
    const loadEvents = async () => {
      const eq = new URLSearchParams({ id: p.id, limit: "20" });
      if (before) eq.set("before", before);
      const pg = await api("person/events?" + eq);
      hb.append(...pg.events.map((e) => el("tr", {}, el("td", {}, timeEl(e.time)), el("td", {}, e.category), el("td", {}, e.name),
        el("td", { class: "mono" }, e.properties ? JSON.stringify(e.properties) : ""))));
      before = pg.next || "";
      more.disabled = !pg.next;
    };
    more.addEventListener("click", () => loadEvents().catch((err) => show(err.message)));
    await loadEvents();
    // The latest participation's journey shows with the person.
    if (page.participations.length) showJourney(page.participations[page.participations.length - 1], { quiet: true });
    $("search-panel").scrollIntoView({ block: "start" });
  } catch (err) {
    box.replaceChildren(el("p", { class: "muted" }, err.status === 404 ? "No person with that " + key + "." : err.message));
  }
}

// ---- lifecycle and audit

async function act(action) {
  if (!state.flow) return;
  if (!confirm(LIFECYCLE[action].confirm)) return;
  try {
    const res = await post("flows/" + encodeURIComponent(state.flow.id) + "/" + action);
    state.flow.status = res.status;
    showStatus();
    show("");
    loadAudit().catch(() => {});
  } catch (err) { show(action + ": " + err.message); }
}

async function loadAudit() {
  const { entries } = await api("flows/" + encodeURIComponent(state.flow.id) + "/audit?limit=20");
  const body = $("audit").querySelector("tbody");
  body.replaceChildren(...entries.map((e) => el("tr", { class: e.ok ? "" : "failed", "data-audit": e.action },
    el("td", {}, timeEl(e.at)), el("td", {}, e.user), el("td", {}, e.action), el("td", { class: "mono" }, e.target), el("td", {}, e.outcome))));
  if (!entries.length) body.append(el("tr", {}, el("td", { colSpan: 5, class: "muted" }, "Nothing done here through the console yet.")));
}

// ---- migration

async function openMigration() {
  const dlg = $("migration");
  const vs = state.flow.versions.slice().reverse();
  const opts = () => vs.map((v) => el("option", { value: v.version }, versionLabel(v)));
  $("migrate-from").replaceChildren(...opts());
  $("migrate-to").replaceChildren(...opts());
  const from = vs.find((v) => v.version !== state.flow.latest && v.inFlow > 0) || vs[vs.length - 1];
  $("migrate-from").value = String(from.version);
  $("migrate-to").value = String(state.flow.latest);
  $("migrate-apply").hidden = !(state.flow.can || []).includes("migrate");
  $("migrate-result").replaceChildren();
  await migrationMap();
  dlg.showModal();
}

async function migrationMap() {
  const from = await doc(Number($("migrate-from").value)), to = await doc(Number($("migrate-to").value));
  const targets = (to.elements || []).map((e) => e.id);
  const body = $("migrate-map").querySelector("tbody");
  body.replaceChildren(...(from.elements || []).map((e) => {
    const sel = el("select", { "data-map": e.id, "aria-label": "Element of the new version for " + e.id },
      el("option", { value: "" }, "— no place —"), ...targets.map((t) => el("option", { value: t }, t)));
    sel.value = targets.includes(e.id) ? e.id : "";
    sel.addEventListener("change", () => { $("migrate-apply").disabled = true; });
    return el("tr", {}, el("td", {}, e.id + " (" + e.type + ")"), el("td", {}, sel));
  }));
  $("migrate-apply").disabled = true;
}

function migrationRequest() {
  const map = {};
  for (const sel of document.querySelectorAll("#migrate-map select")) if (sel.value && sel.value !== sel.dataset.map) map[sel.dataset.map] = sel.value;
  return { from: Number($("migrate-from").value), to: Number($("migrate-to").value), map, exitUnmapped: $("migrate-exit").checked };
}

function showMigration(r) {
  const box = $("migrate-result");
  const moves = el("table", { class: "list", id: "migrate-moves" }, el("caption", {}, "Moves"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "From"), el("th", { scope: "col" }, "To"), el("th", { scope: "col" }, "Participants"))),
    el("tbody", {}, ...r.moves.map((m) => el("tr", {}, el("td", {}, m.from), el("td", {}, m.to), el("td", {}, n(m.count))))));
  const refusals = el("table", { class: "list", id: "migrate-refusals" }, el("caption", {}, "Refusals"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Reason"), el("th", { scope: "col" }, "Participants"))),
    el("tbody", {}, ...Object.entries(r.refusals || {}).map(([reason, c]) => el("tr", {}, el("td", {}, reason), el("td", {}, n(c))))));
  box.replaceChildren(el("p", { id: "migrate-summary" }, (r.dryRun ? "Dry run: would move " : "Moved ") + n(r.moved) + ", refuse " + n(r.refused) + ", exit " + n(r.exited) + "."), moves, refusals);
}

async function migrationDry() {
  try {
    const r = await post("flows/" + encodeURIComponent(state.flow.id) + "/migrations/preview", migrationRequest());
    showMigration(r);
    $("migrate-apply").disabled = false;
  } catch (err) { $("migrate-result").replaceChildren(el("p", { class: "error" }, err.message)); }
}

async function migrationApply() {
  const req = migrationRequest();
  if (!confirm("Move the participants of v" + req.from + " to v" + req.to + " as the dry run shows?")) return;
  try {
    const r = await post("flows/" + encodeURIComponent(state.flow.id) + "/migrations", req);
    showMigration(r);
    $("migrate-apply").disabled = true;
    state.flow = await api("flows/" + encodeURIComponent(state.flow.id));
    showVersions();
    await refreshStats();
    await loadParticipants("first");
    loadAudit().catch(() => {});
  } catch (err) { $("migrate-result").replaceChildren(el("p", { class: "error" }, err.message)); }
}

// ---- wiring

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    if ($("live").checked && !document.hidden && state.flow) {
      try {
        await refreshStats();
        const f = await api("flows/" + encodeURIComponent(state.flow.id));
        if (f.id === state.flow.id) {
          state.flow = f;
          showVersions();
          showStatus();
        }
      } catch (err) { show(err.message); }
    }
    schedule();
  }, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", async () => {
  const report = (err) => show(err.message);
  wireView();
  $("flow").addEventListener("change", (e) => pickFlow(e.target.value).catch(report));
  $("version").addEventListener("change", (e) => pickVersion(e.target.value).catch(report));
  $("participants-status").addEventListener("change", () => loadParticipants("first").catch(report));
  $("participants-sort").addEventListener("change", () => loadParticipants("first").catch(report));
  $("participants-reason").addEventListener("change", () => loadParticipants("first").catch(report));
  $("participants-clear").addEventListener("click", () => { state.element = ""; showElement(); linkState(); loadParticipants("first").catch(report); });
  $("participants-next").addEventListener("click", () => loadParticipants("next").catch(report));
  $("participants-prev").addEventListener("click", () => loadParticipants("prev").catch(report));
  $("search").addEventListener("submit", search);
  $("open-migration").addEventListener("click", () => openMigration().catch(report));
  $("migrate-from").addEventListener("change", () => migrationMap().catch(report));
  $("migrate-to").addEventListener("change", () => migrationMap().catch(report));
  $("migrate-dry").addEventListener("click", migrationDry);
  $("migrate-apply").addEventListener("click", migrationApply);
  $("migrate-close").addEventListener("click", () => $("migration").close());
  try {
    await loadFlows();
    schedule();
  } catch (err) { show(err.message); }
});
