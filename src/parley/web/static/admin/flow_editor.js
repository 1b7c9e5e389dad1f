// The IVR flow editor: the flow's YAML document (as JSON) drawn as a graph with Drawflow
// (npm, served from /static/vendor/drawflow), one form per node, and the server's validator
// telling what is wrong on the node it concerns. The document is the only state: the graph
// and the forms are drawn from it, and every edit changes it; node positions go in its
// ``layout`` block. Saving stores it as the flow's draft; "Go live" makes the draft live only
// when the server finds no error; "Test call" calls the draft from this browser's phone.

import { byId, csrfToken, say } from "../desk/page.js";
import { sessionPhone } from "../desk/session_phone.js";

/** @typedef {Record<string, any>} Json */
/** @typedef {{code: string, message: string, node: string | null, field: string | null, severity: string}} Issue */

/** @type {any} */
const Drawflow = /** @type {any} */ (window).Drawflow;
/** @type {{name: string, description: string, definition: Json, live: number}} */
const record = JSON.parse(byId("record").textContent ?? "{}");
/** @type {Record<string, [string, string][]>} */
const FORMS = JSON.parse(byId("node-forms").textContent ?? "{}");
const config = JSON.parse(byId("desk-config").textContent ?? "{}");

/** @type {Json} */
const flow = structuredClone(record.definition);
flow.nodes ??= {};
flow.layout ??= {};
let name = record.name;
/** @type {string | null} */
let selected = null;
/** @type {Issue[]} */
let issues = [];
let rendering = false;
/** @type {Map<number, string>} Drawflow's node number -> node id */
const drawn = new Map();

const editor = new Drawflow(byId("drawflow"));
editor.reroute = false;
editor.start();

/** @param {string} text */
function status(text) { byId("flow-status").textContent = text; }

/**
 * The exits of a node, in the order of its output ports: field path -> target.
 * @param {Json} node
 * @returns {[string, string][]}
 */
function exitsOf(node) {
  /** @type {[string, string][]} */
  const found = [];
  for (const [field, widget] of FORMS[node.type] ?? []) {
    if (widget === "exit") found.push([field, node[field] ?? ""]);
    if (widget === "options") {
      for (const key of Object.keys(node.options ?? {}).sort()) found.push([`options.${key}`, node.options[key]]);
    }
  }
  return found;
}

/**
 * Set an exit (``next``, ``options.1``) of a node; "" removes it.
 * @param {Json} node @param {string} path @param {string} target
 */
function setExit(node, path, target) {
  if (path.startsWith("options.")) {
    node.options ??= {};
    node.options[path.slice(8)] = target;
  } else if (target) {
    node[path] = target;
  } else {
    delete node[path];
  }
}

/** @param {string} text */
function escape(text) {
  const box = document.createElement("span");
  box.textContent = text;
  return box.innerHTML;
}

/** Draw the graph again from the document. */
function drawGraph() {
  rendering = true;
  editor.clear();
  drawn.clear();
  /** @type {Map<string, number>} */
  const numbers = new Map();
  let index = 0;
  for (const [id, node] of Object.entries(flow.nodes)) {
    const where = flow.layout[id] ?? { x: 40 + 250 * (index % 4), y: 30 + 150 * Math.floor(index / 4) };
    flow.layout[id] = where;
    index += 1;
    const exits = exitsOf(node);
    const mine = issues.filter((issue) => issue.node === id);
    const html = `<div class="flow-node${id === flow.start ? " is-start" : ""}">`
      + `<p class="node-title"><strong>${escape(id)}</strong> <span>${escape(node.type ?? "?")}</span>`
      + `${id === flow.start ? ` <em>${escape(say("start"))}</em>` : ""}</p>`
      + `<ul class="node-exits">${exits.map(([field, target]) => `<li>${escape(field)} → ${escape(target || "—")}</li>`).join("")}</ul>`
      + mine.map((issue) => `<p class="node-issue ${issue.severity}" data-node="${escape(id)}">${escape(say(issue.severity))}: ${escape(issue.field ? `${issue.field}: ` : "")}${escape(issue.message)}</p>`).join("")
      + "</div>";
    const number = editor.addNode(id, 1, exits.length, where.x, where.y,
      mine.some((issue) => issue.severity === "error") ? "has-error" : "", { id }, html);
    numbers.set(id, number);
    drawn.set(number, id);
  }
  for (const [id, node] of Object.entries(flow.nodes)) {
    exitsOf(node).forEach(([, target], port) => {
      if (target && numbers.has(target)) {
        editor.addConnection(numbers.get(id), numbers.get(target), `output_${port + 1}`, "input_1");
      }
    });
  }
  rendering = false;
  drawLists();
}

/** The node list, the start choice and the problems list. */
function drawLists() {
  const list = byId("node-list");
  list.replaceChildren();
  for (const id of Object.keys(flow.nodes)) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `${id} (${flow.nodes[id].type})`;
    if (issues.some((issue) => issue.node === id && issue.severity === "error")) button.classList.add("has-error");
    if (id === selected) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => select(id));
    item.append(button);
    list.append(item);
  }
  const start = /** @type {HTMLSelectElement} */ (byId("flow-start"));
  start.replaceChildren(...Object.keys(flow.nodes).map((id) => new Option(id, id, false, id === flow.start)));
  const errors = issues.filter((issue) => issue.severity === "error").length;
  byId("check-summary").textContent = errors ? say("problems", { count: String(errors) }) : say("ok");
  const problems = byId("flow-issues");
  problems.replaceChildren(...issues.map((issue) => {
    const item = document.createElement("li");
    item.className = issue.severity;
    item.textContent = `${say(issue.severity)}: ${issue.node ? `${issue.node}: ` : ""}${issue.field ? `${issue.field}: ` : ""}${issue.message}`;
    return item;
  }));
}

/**
 * One form control of a node's field.
 * @param {Json} node @param {string} field @param {string} widget
 * @returns {HTMLElement}
 */
function control(node, field, widget) {
  const id = `nf-${field}`;
  const wrap = document.createElement("div");
  wrap.className = "field";
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = field;
  /** @type {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} */
  let input;
  const value = node[field];
  if (widget === "exit" || widget.startsWith("choice:")) {
    const select = document.createElement("select");
    const choices = widget === "exit" ? Object.keys(flow.nodes) : widget.slice(7).split("|");
    select.append(new Option("—", ""), ...choices.map((choice) => new Option(choice, choice, false, choice === value)));
    input = select;
  } else if (widget === "prompts" || widget === "assign") {
    input = document.createElement("textarea");
    input.rows = 2;
    input.value = widget === "prompts" ? promptsText(value) : assignText(value);
  } else {
    input = document.createElement("input");
    if (widget === "bool") {
      input.type = "checkbox";
      input.checked = value !== false;
      wrap.classList.add("check");
    } else {
      input.value = widget === "words" ? (value ?? []).join(" ") : (value ?? "").toString();
      if (widget === "number") input.inputMode = "decimal";
    }
  }
  input.id = id;
  const error = issues.find((issue) => issue.node === selected && issue.field !== null && issue.field.split(".")[0] === field);
  if (error) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", `${id}-error`);
  }
  input.addEventListener("change", () => {
    const raw = input instanceof HTMLInputElement && input.type === "checkbox" ? input.checked : input.value.trim();
    setField(node, field, widget, raw);
    changed(true);
  });
  wrap.append(label, input);
  if (error) {
    const message = document.createElement("p");
    message.className = "field-error";
    message.id = `${id}-error`;
    message.textContent = error.message;
    wrap.append(message);
  }
  return wrap;
}

/** @param {unknown} value */
function promptsText(value) {
  const items = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return items.map((item) => typeof item === "string" ? item
    : item && typeof item === "object" && "text" in item && Object.keys(item).length === 1 ? `text: ${item.text}`
    : JSON.stringify(item)).join("\n");
}

/** @param {unknown} value */
function assignText(value) {
  return Object.entries(/** @type {Json} */ (value ?? {})).map(([key, expr]) => `${key} = ${expr}`).join("\n");
}

/**
 * Put a form value into the node, as the YAML has it.
 * @param {Json} node @param {string} field @param {string} widget @param {string | boolean} raw
 */
function setField(node, field, widget, raw) {
  if (typeof raw === "boolean") { if (raw) delete node[field]; else node[field] = false; return; }
  if (raw === "") { delete node[field]; return; }
  if (widget === "number") node[field] = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  else if (widget === "words") node[field] = raw.split(/[\s,]+/).filter(Boolean);
  else if (widget === "prompts") {
    node[field] = raw.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
      if (line.startsWith("text:")) return { text: line.slice(5).trim() };
      if (line.startsWith("{")) { try { return JSON.parse(line); } catch { return line; } }
      return line;
    });
  } else if (widget === "assign") {
    /** @type {Json} */
    const out = {};
    for (const line of raw.split("\n")) {
      const at = line.indexOf("=");
      if (at > 0) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    node[field] = out;
  } else node[field] = raw;
}

/**
 * The menu's keys as rows of a key and the node it leads to.
 * @param {Json} node
 */
function optionsControl(node) {
  const box = document.createElement("fieldset");
  box.className = "field options";
  const legend = document.createElement("legend");
  legend.textContent = "options";
  box.append(legend);
  const keys = Object.keys(node.options ?? {}).sort();
  for (const key of [...keys, ""]) {
    const row = document.createElement("div");
    row.className = "option";
    const digit = document.createElement("input");
    digit.value = key;
    digit.size = 2;
    digit.setAttribute("aria-label", `options: key ${key || "new"}`);
    const target = document.createElement("select");
    target.setAttribute("aria-label", `options: node for key ${key || "new"}`);
    target.append(new Option("—", ""), ...Object.keys(flow.nodes).map((id) => new Option(id, id, false, node.options?.[key] === id)));
    const update = () => {
      const options = { ...(node.options ?? {}) };
      if (key) delete options[key];
      if (digit.value.trim() && target.value) options[digit.value.trim()] = target.value;
      node.options = options;
      changed(true);
    };
    digit.addEventListener("change", update);
    target.addEventListener("change", update);
    row.append(digit, target);
    box.append(row);
  }
  return box;
}

/** Draw the selected node's form. */
function drawForm() {
  const fields = byId("node-fields");
  fields.replaceChildren();
  const remove = byId("remove-node");
  const title = byId("node-form-title");
  if (!selected || !flow.nodes[selected]) {
    title.textContent = say("node.none");
    remove.hidden = true;
    return;
  }
  const node = flow.nodes[selected];
  title.textContent = `${selected} (${node.type})`;
  remove.hidden = false;
  for (const [field, widget] of FORMS[node.type] ?? []) {
    fields.append(widget === "options" ? optionsControl(node) : control(node, field, widget));
  }
}

/** @param {string} id */
function select(id) {
  selected = id;
  drawForm();
  drawLists();
  const first = byId("node-fields").querySelector("input, select, textarea");
  if (first instanceof HTMLElement) first.focus();
}

/** @type {number | undefined} */
let checkTimer;

/**
 * The document changed: redraw and ask the server what is wrong with it.
 * @param {boolean} redraw
 */
function changed(redraw) {
  if (redraw) { drawGraph(); drawForm(); }
  window.clearTimeout(checkTimer);
  checkTimer = window.setTimeout(() => void check(), 300);
}

/** What the editor stores: the document with the description. */
function definition() {
  /** @type {Json} */
  const out = structuredClone(flow);
  const description = /** @type {HTMLInputElement} */ (byId("flow-description")).value.trim();
  if (description) out.description = description; else delete out.description;
  for (const id of Object.keys(out.layout)) {
    if (!(id in out.nodes)) delete out.layout[id];
  }
  return out;
}

/**
 * @param {string} method @param {string} url @param {unknown} [body]
 * @returns {Promise<{ok: boolean, status: number, data: any}>}
 */
async function api(method, url, body) {
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  return { ok: response.ok, status: response.status, data };
}

/** @param {any} data */
function reasonOf(data) {
  const detail = data?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((item) => `${(item.loc ?? []).slice(1).join(".")}: ${item.msg}`).join("; ");
  return String(data);
}

/** @param {Issue[]} found */
function showIssues(found) {
  issues = found;
  drawGraph();
  drawForm();
}

async function check() {
  const answer = await api("POST", "/api/flows/check", { name: name || "draft", definition: definition() });
  if (!answer.ok) return;
  showIssues(answer.data.issues);
}

/** Store the draft; false (and why, in the status) when it was not stored. */
async function saveDraft() {
  const nameBox = /** @type {HTMLInputElement} */ (byId("flow-name"));
  const nameError = byId("flow-name-error");
  nameError.hidden = true;
  nameBox.removeAttribute("aria-invalid");
  name = nameBox.value.trim();
  status(say("saving"));
  const description = /** @type {HTMLInputElement} */ (byId("flow-description")).value.trim();
  const answer = await api("PUT", `/api/flows/${encodeURIComponent(name)}/draft`,
    { name, description, definition: definition() });
  if (!answer.ok) {
    nameError.textContent = reasonOf(answer.data);
    nameError.hidden = false;
    nameBox.setAttribute("aria-invalid", "true");
    nameBox.focus();
    status(say("failed", { reason: reasonOf(answer.data) }));
    return false;
  }
  showIssues(answer.data.issues);
  status(say("saved"));
  await drawVersions();
  return true;
}

/** The versions table as stored now (a saved draft shows up in it). */
async function drawVersions() {
  const answer = await api("GET", `/api/flows/${encodeURIComponent(name)}/history`);
  if (!answer.ok) return;
  byId("versions").replaceChildren(...answer.data.versions.map((/** @type {Json} */ version) => {
    const row = document.createElement("tr");
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = String(version.version);
    const state = document.createElement("td");
    state.textContent = say(`status.${version.status}`);
    const saved = document.createElement("td");
    saved.textContent = `${String(version.saved_at).slice(0, 16).replace("T", " ")} UTC`;
    row.append(head, state, saved);
    return row;
  }));
}

async function goLive() {
  if (!await saveDraft()) return;
  const answer = await api("POST", `/api/flows/${encodeURIComponent(name)}/live`);
  if (answer.ok) {
    window.location.assign(`/admin/flows/${encodeURIComponent(name)}?live=${answer.data.live}`);
    return;
  }
  if (answer.data?.issues) showIssues(answer.data.issues);
  status(say("not_live", { reason: reasonOf(answer.data) }));
}

/** @type {import("../phone/softphone.js").Softphone | null} */
let phone = null;

/** Call the draft from this browser: a one-call number the node opened for this admin. */
async function testCall() {
  if (!await saveDraft()) return;
  const answer = await api("POST", `/api/flows/${encodeURIComponent(name)}/trial`);
  if (!answer.ok) {
    if (answer.data?.issues) showIssues(answer.data.issues);
    status(say("trial.failed", { reason: reasonOf(answer.data) }));
    return;
  }
  const number = answer.data.number;
  if (!phone) {
    phone = await sessionPhone(config, (call) => {
      byId("hang-up").hidden = call.state === "ended";
      status(say(`call.${call.state}`) === `call.${call.state}` ? "" : say(`call.${call.state}`));
      document.body.dataset.call = call.state;
    });
    if (!phone) return;
    const ready = new Promise((resolve) => phone?.addEventListener("registration", (event) => {
      if (/** @type {CustomEvent} */ (event).detail.state === "registered") resolve(true);
    }));
    await phone.start();
    await ready;
  }
  status(say("trial.calling", { number }));
  phone.call(number);
}

editor.on("connectionCreated", (/** @type {Json} */ link) => {
  if (rendering) return;
  const from = drawn.get(Number(link.output_id));
  const to = drawn.get(Number(link.input_id));
  if (!from || !to) return;
  const exits = exitsOf(flow.nodes[from]);
  const port = Number(String(link.output_class).replace("output_", "")) - 1;
  if (exits[port]) setExit(flow.nodes[from], exits[port][0], to);
  changed(true);
});
editor.on("connectionRemoved", (/** @type {Json} */ link) => {
  if (rendering) return;
  const from = drawn.get(Number(link.output_id));
  if (!from || !flow.nodes[from]) return;
  const exits = exitsOf(flow.nodes[from]);
  const port = Number(String(link.output_class).replace("output_", "")) - 1;
  if (exits[port]) setExit(flow.nodes[from], exits[port][0], "");
  changed(true);
});
editor.on("nodeMoved", (/** @type {number} */ number) => {
  const id = drawn.get(Number(number));
  if (!id) return;
  const node = editor.getNodeFromId(number);
  flow.layout[id] = { x: Math.round(node.pos_x), y: Math.round(node.pos_y) };
});
editor.on("nodeSelected", (/** @type {number} */ number) => {
  const id = drawn.get(Number(number));
  if (id && id !== selected) { selected = id; drawForm(); drawLists(); }
});
editor.on("nodeRemoved", (/** @type {number} */ number) => {
  if (rendering) return;
  const id = drawn.get(Number(number));
  if (id) removeNode(id);
});

/** A place on the graph no node takes yet (left to right, then the next row). */
function freeSlot() {
  /** @type {{x: number, y: number}[]} */
  const taken = Object.values(flow.layout);
  for (let slot = 0; ; slot += 1) {
    const where = { x: 40 + 250 * (slot % 4), y: 30 + 170 * Math.floor(slot / 4) };
    if (!taken.some((other) => Math.abs(other.x - where.x) < 200 && Math.abs(other.y - where.y) < 150)) return where;
  }
}

/** @param {string} id */
function removeNode(id) {
  delete flow.nodes[id];
  delete flow.layout[id];
  if (selected === id) selected = null;
  changed(true);
}

byId("add-node").addEventListener("submit", (event) => {
  event.preventDefault();
  const box = /** @type {HTMLInputElement} */ (byId("new-node-id"));
  const error = byId("new-node-error");
  const id = box.value.trim();
  const problem = !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(id) ? say("node.bad_id")
    : id in flow.nodes ? say("node.exists", { id }) : "";
  error.hidden = !problem;
  error.textContent = problem;
  if (problem) { box.setAttribute("aria-invalid", "true"); box.focus(); return; }
  box.removeAttribute("aria-invalid");
  const type = /** @type {HTMLSelectElement} */ (byId("new-node-type")).value;
  flow.nodes[id] = { type };
  flow.layout[id] = freeSlot();
  if (!flow.start) flow.start = id;
  box.value = "";
  changed(true);
  select(id);
});
byId("remove-node").addEventListener("click", () => { if (selected) removeNode(selected); });
byId("flow-start").addEventListener("change", (event) => {
  flow.start = /** @type {HTMLSelectElement} */ (event.target).value;
  changed(true);
});
byId("save-draft").addEventListener("click", () => {
  void saveDraft().then((saved) => {
    if (saved && !record.name) window.location.assign(`/admin/flows/${encodeURIComponent(name)}?saved=1`);
  });
});
byId("go-live").addEventListener("click", () => void goLive());
byId("test-call").addEventListener("click", () => {
  testCall().catch((error) => status(say("trial.failed", { reason: String(error) })));
});
byId("hang-up").addEventListener("click", () => { try { phone?.hangup(); } catch { /* ended */ } });
document.getElementById("roll-back")?.addEventListener("click", async (event) => {
  const answer = await api("POST", `/api/flows/${encodeURIComponent(name)}/rollback`);
  if (answer.ok) {
    window.location.assign(`/admin/flows/${encodeURIComponent(name)}?live=${answer.data.live}&back=1`);
    return;
  }
  if (answer.data?.issues) showIssues(answer.data.issues);
  status(say("not_live", { reason: reasonOf(answer.data) }));
  /** @type {HTMLElement} */ (event.target).focus();
});
window.addEventListener("pagehide", () => phone?.stop());

const query = new URLSearchParams(window.location.search);
if (query.has("live")) status(say(query.has("back") ? "rolled_back" : "live", { version: query.get("live") ?? "" }));
else if (query.has("saved")) status(say("saved"));
drawGraph();
drawForm();
void check();
