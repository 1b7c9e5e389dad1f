// The supervisor console's runtime: draws the Queues, Operators and Calls tables from
// /supervisor/live, follows /api/events and asks again for what an event changed (a few times
// a second at most), replacing only rows whose content changed; it runs the browser phone
// that joins calls (answering the node's monitoring call by itself), the help-request toasts
// and the threshold alerts. Every figure and label comes from the server.
import { byId, reason, request, say } from "../desk/page.js";
import { sessionPhone } from "../desk/session_phone.js";

/** @typedef {import("../phone/softphone.js").Softphone} Softphone */
/** @typedef {import("../phone/softphone.js").CallDetail} CallDetail */

/**
 * @typedef {object} ConsoleConfig
 * @property {string} user
 * @property {string} jssip
 * @property {string} phone  "browser" or "desk"
 * @property {string} device  the desk phone, when it is one
 */

/**
 * @typedef {object} QueueRow
 * @property {string} key
 * @property {Record<string, string>} cells
 * @property {Record<string, string>} alerts  cell -> the alert it raises
 */

/**
 * @typedef {object} OperatorRow
 * @property {string} key
 * @property {string} name
 * @property {string[]} teams
 * @property {string[]} queues
 * @property {string} state
 * @property {string} state_text
 * @property {string | null} since
 * @property {string} call
 * @property {string | null} call_since
 * @property {string} calls_today
 * @property {string} talk_today
 * @property {boolean} signed_in
 */

/**
 * @typedef {object} CallRow
 * @property {string} key
 * @property {string} queue
 * @property {string} operator
 * @property {string} operator_name
 * @property {string} caller
 * @property {string} state
 * @property {string} state_text
 * @property {string} since
 * @property {boolean} talking
 */

/**
 * @typedef {object} LiveAnswer
 * @property {string} now
 * @property {QueueRow[]} [queues]
 * @property {OperatorRow[]} [operators]
 * @property {CallRow[]} [calls]
 * @property {boolean} [partial]
 */

/** @type {ConsoleConfig} */
const config = JSON.parse(byId("desk-config").textContent ?? "{}");

/** @param {number} seconds */
function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor(whole / 60) % 60;
  const ss = String(whole % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${ss}` : `${minutes}:${ss}`;
}

/** @param {string} text */
function alertText(text) {
  const box = byId("console-alert");
  box.textContent = text;
  box.hidden = !text;
}

/** A short tone (help requests, alerts), if the browser lets the page play one. */
function beep() {
  try {
    const context = new AudioContext();
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.1;
    tone.connect(gain).connect(context.destination);
    tone.start();
    tone.stop(context.currentTime + 0.25);
    tone.addEventListener("ended", () => { void context.close(); });
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps ?? "0") + 1);
  } catch {
    // no audio here: the toast and the alert still show
  }
}

/** Milliseconds the server's clock is ahead of this one. */
let skew = 0;

/**
 * @param {string} tag
 * @param {string} [text]
 * @param {string} [className]
 */
function make(tag, text = "", className = "") {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/**
 * A button of a row.
 * @param {string} text
 * @param {string} action
 * @param {boolean} disabled
 */
function button(text, action, disabled = false) {
  const found = /** @type {HTMLButtonElement} */ (make("button", text));
  found.type = "button";
  found.dataset.action = action;
  found.disabled = disabled;
  return found;
}

/**
 * A cell that counts seconds from ``since`` (the runtime's tick keeps it current).
 * @param {string | null} since
 */
function ticking(since) {
  const cell = make("td", "", "tick");
  if (since) cell.dataset.since = since;
  cell.textContent = since ? clock((Date.now() + skew - Date.parse(since)) / 1000) : "–";
  return cell;
}

function tick() {
  const now = Date.now() + skew;
  for (const cell of document.querySelectorAll("td.tick[data-since], span.tick[data-since]")) {
    if (cell instanceof HTMLElement) {
      cell.textContent = clock((now - Date.parse(cell.dataset.since ?? "")) / 1000);
    }
  }
}

// --- rows ------------------------------------------------------------------------------------

/** What each drawn row was drawn from (table:key -> JSON), to redraw only what changed. */
const drawn = new Map();

/**
 * Put ``row`` into ``body``: a new row is added, a changed one replaced, an unchanged one left.
 * @param {HTMLElement} body
 * @param {string} table
 * @param {string} key
 * @param {string} content  what the row shows, as compared
 * @param {() => HTMLTableRowElement} build
 * @returns {HTMLTableRowElement | null}  the row drawn, if it was
 */
function put(body, table, key, content, build) {
  const id = `${table}:${key}`;
  if (drawn.get(id) === content) return null;
  drawn.set(id, content);
  const row = build();
  row.dataset.key = key;
  const old = [...body.children].find((child) =>
    child instanceof HTMLElement && child.dataset.key === key);
  if (old) {
    const hadFocus = old.contains(document.activeElement);
    const action = document.activeElement instanceof HTMLElement
      ? document.activeElement.dataset.action : undefined;
    old.replaceWith(row);
    if (hadFocus) {  // focus is never lost: the same button in the new row, else the row
      const again = action ? row.querySelector(`[data-action="${action}"]`) : null;
      if (again instanceof HTMLElement && !(again instanceof HTMLButtonElement
          && again.disabled)) again.focus();
      else { row.tabIndex = -1; row.focus(); }
    }
  } else {
    body.append(row);
  }
  return row;
}

/**
 * Remove the rows of ``table`` whose key is not in ``keep``.
 * @param {HTMLElement} body
 * @param {string} table
 * @param {Set<string>} keep
 */
function prune(body, table, keep) {
  for (const row of [...body.children]) {
    if (row instanceof HTMLElement && row.dataset.key && !keep.has(row.dataset.key)) {
      drawn.delete(`${table}:${row.dataset.key}`);
      row.remove();
    }
  }
}

/** @param {HTMLElement} body @param {string} text @param {number} columns */
function placeholder(body, text, columns) {
  const empty = body.querySelector("tr.empty");
  const rows = body.querySelectorAll("tr[data-key]").length;
  if (rows && empty) empty.remove();
  if (!rows && !empty) {
    const row = make("tr", "", "empty");
    const cell = /** @type {HTMLTableCellElement} */ (make("td", text, "quiet"));
    cell.colSpan = columns;
    row.append(cell);
    body.append(row);
  }
}

const QUEUE_CELLS = ["waiting", "longest_wait", "expected_wait", "ready", "busy", "wrap_up",
  "not_ready", "service_level", "asa", "abandon_rate"];
/** The alerts raised now, "queue:cell" -> text. */
const raised = new Map();

/** @param {QueueRow[]} queues */
function drawQueues(queues) {
  const body = byId("queue-rows");
  const fresh = [];
  for (const queue of queues) {
    put(body, "queue", queue.key, JSON.stringify(queue), () => {
      const row = /** @type {HTMLTableRowElement} */ (make("tr"));
      const name = make("th", queue.key);
      name.setAttribute("scope", "row");
      row.append(name);
      for (const cell of QUEUE_CELLS) {
        const td = make("td", queue.cells[cell] ?? "–");
        td.dataset.cell = cell;
        const alert = queue.alerts[cell];
        if (alert) {
          td.classList.add("over");
          td.title = alert;
        }
        row.append(td);
      }
      return row;
    });
    for (const cell of QUEUE_CELLS) {
      const id = `${queue.key}:${cell}`;
      const alert = queue.alerts[cell];
      if (alert && !raised.has(id)) fresh.push(alert);
      if (alert) raised.set(id, alert);
      else raised.delete(id);
    }
  }
  prune(body, "queue", new Set(queues.map((queue) => queue.key)));
  // the alerts raised now, in one line; a new one sounds
  const box = byId("queue-alert");
  const text = [...raised.values()].join(" ");
  if (box.textContent !== text) box.textContent = text;
  box.hidden = !text;
  if (fresh.length) beep();
}

const teamFilter = /** @type {HTMLSelectElement} */ (byId("team-filter"));
const queueFilter = /** @type {HTMLSelectElement} */ (byId("queue-filter"));

/** @param {HTMLElement} row */
function filter(row) {
  const teams = (row.dataset.teams ?? "").split(" ");
  const queues = (row.dataset.queues ?? "").split(" ");
  row.hidden = Boolean((teamFilter.value && !teams.includes(teamFilter.value))
    || (queueFilter.value && !queues.includes(queueFilter.value)));
}

/**
 * @param {OperatorRow[]} operators
 * @param {boolean} partial  only some operators were asked for
 */
function drawOperators(operators, partial) {
  const body = byId("operator-rows");
  for (const operator of operators) {
    const row = put(body, "operator", operator.key, JSON.stringify(operator), () => {
      const tr = /** @type {HTMLTableRowElement} */ (make("tr"));
      tr.dataset.teams = operator.teams.join(" ");
      tr.dataset.queues = operator.queues.join(" ");
      tr.dataset.state = operator.state;
      const name = make("th", operator.name);
      name.setAttribute("scope", "row");
      const call = make("td");
      if (operator.call) {
        call.append(`${operator.call} `);
        const length = make("span", "", "tick quiet");
        if (operator.call_since) length.dataset.since = operator.call_since;
        call.append(length);
      } else {
        call.textContent = "–";
      }
      const actions = make("td", "", "row-actions");
      actions.append(
        button(say("force_not_ready"), "not_ready",
          !operator.signed_in || operator.state === "not_ready"),
        button(say("sign_out"), "logged_out", !operator.signed_in));
      tr.append(name, make("td", operator.state_text, `op-state ${operator.state}`),
        ticking(operator.since), call, make("td", operator.calls_today),
        make("td", operator.talk_today), actions);
      return tr;
    });
    if (row) filter(row);
  }
  if (!partial) prune(body, "operator", new Set(operators.map((operator) => operator.key)));
  placeholder(body, say("no_operators"), 7);
  tick();
}

const monitoring = { call: "", mode: "", operator: "" };

/** @param {CallRow[]} calls */
function drawCalls(calls) {
  const body = byId("call-rows");
  for (const call of calls) {
    const mine = monitoring.call === call.key ? monitoring.mode : "";
    put(body, "call", call.key, JSON.stringify([call, mine]), () => {
      const tr = /** @type {HTMLTableRowElement} */ (make("tr"));
      tr.dataset.operator = call.operator;
      const queue = make("th", call.queue);
      queue.setAttribute("scope", "row");
      const actions = make("td", "", "row-actions");
      for (const mode of ["listen", "whisper", "barge"]) {
        const join = button(say(mode), mode, !call.talking);
        join.setAttribute("aria-pressed", String(mine === mode));
        actions.append(join);
      }
      actions.append(button(say("take_over"), "take_over", !call.talking));
      if (mine) actions.append(button(say("leave"), "leave"));
      actions.append(button(say("hang_up"), "hang_up"));
      tr.append(queue, make("td", call.operator_name), make("td", call.caller),
        make("td", call.state_text), ticking(call.since), actions);
      return tr;
    });
  }
  prune(byId("call-rows"), "call", new Set(calls.map((call) => call.key)));
  placeholder(body, say("no_calls"), 6);
  if (monitoring.call && !calls.some((call) => call.key === monitoring.call)) {
    monitoring.call = "";
    monitoring.mode = "";
  }
}

// --- asking for rows -------------------------------------------------------------------------

const dirty = { queues: false, calls: false, everyone: true, operators: new Set() };
let asking = false;

async function flush() {
  if (asking) return;
  const parts = [];
  if (dirty.queues) parts.push("queues");
  if (dirty.calls) parts.push("calls");
  if (dirty.everyone || dirty.operators.size) parts.push("operators");
  if (!parts.length) return;
  const query = new URLSearchParams({ parts: parts.join(",") });
  if (!dirty.everyone && dirty.operators.size) {
    query.set("operators", [...dirty.operators].join(","));
  }
  const everyone = dirty.everyone;
  dirty.queues = false;
  dirty.calls = false;
  dirty.everyone = false;
  dirty.operators.clear();
  asking = true;
  try {
    const response = await request(`/supervisor/live?${query}`);
    if (!response.ok) return;
    /** @type {LiveAnswer} */
    const answer = await response.json();
    skew = Date.parse(answer.now) - Date.now();
    if (answer.queues) drawQueues(answer.queues);
    if (answer.calls) drawCalls(answer.calls);
    if (answer.operators) drawOperators(answer.operators, !everyone);
  } finally {
    asking = false;
  }
}

// --- joining calls ---------------------------------------------------------------------------

/**
 * Join the call as ``mode``, or change mode while in it (no second call).
 * @param {string} call
 * @param {string} mode
 */
async function monitor(call, mode) {
  const body = config.phone === "desk" && config.device ? { mode, device: config.device }
    : { mode };
  const response = await request(`/api/live/calls/${encodeURIComponent(call)}/monitor`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    alertText(say("action.failed", { reason: await reason(response) }));
    return;
  }
  const row = byId("call-rows").querySelector(`tr[data-key="${CSS.escape(call)}"]`);
  const operator = row?.querySelector("td")?.textContent ?? "";
  monitoring.call = call;
  monitoring.mode = mode;
  monitoring.operator = operator;
  const answer = await response.json();
  byId("monitor-state").textContent = answer.status === "ringing" && config.phone === "desk"
    ? say("monitor.ringing", { operator }) : say(`monitor.${mode}`, { operator });
  dirty.calls = true;
  void flush();
}

/**
 * Take the customer over from the operator, once confirmed: the phone in the call stays (no
 * second call), else the supervisor's phone rings first.
 * @param {string} call
 */
async function takeOver(call) {
  const row = byId("call-rows").querySelector(`tr[data-key="${CSS.escape(call)}"]`);
  const operator = row?.querySelector("td")?.textContent ?? "";
  if (!window.confirm(say("confirm.takeover", { operator }))) return;
  const body = config.phone === "desk" && config.device ? { device: config.device } : {};
  const response = await request(`/api/live/calls/${encodeURIComponent(call)}/takeover`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    alertText(say("action.failed", { reason: await reason(response) }));
    return;
  }
  const answer = await response.json();
  monitoring.call = "";
  monitoring.mode = "";
  byId("monitor-state").textContent = answer.status === "ringing" && config.phone === "desk"
    ? say("monitor.takeover_ringing", { operator }) : say("monitor.takeover", { operator });
  dirty.calls = true;
  void flush();
}

/** @param {string} call */
async function leave(call) {
  const response = await request(`/api/live/calls/${encodeURIComponent(call)}/monitor`,
    { method: "DELETE" });
  if (!response.ok && response.status !== 404) {
    alertText(say("action.failed", { reason: await reason(response) }));
  }
}

/** @param {string} call */
async function hangUp(call) {
  const response = await request(`/api/live/calls/${encodeURIComponent(call)}`,
    { method: "DELETE" });
  if (!response.ok) alertText(say("action.failed", { reason: await reason(response) }));
}

byId("call-rows").addEventListener("click", (event) => {
  const target = event.target;
  if (!(target instanceof HTMLButtonElement)) return;
  const row = target.closest("tr");
  const call = row?.dataset.key;
  if (!call) return;
  const action = target.dataset.action ?? "";
  if (["listen", "whisper", "barge"].includes(action)) void monitor(call, action);
  else if (action === "take_over") void takeOver(call);
  else if (action === "leave") void leave(call);
  else if (action === "hang_up") void hangUp(call);
});

// --- forcing an operator's state --------------------------------------------------------------

const dialog = /** @type {HTMLDialogElement} */ (byId("reason-dialog"));
const reasonInput = /** @type {HTMLInputElement} */ (byId("reason-input"));
const reasonError = byId("reason-error");
const pending = { operator: "", state: "", opener: /** @type {HTMLElement | null} */ (null) };

/**
 * @param {string} operator
 * @param {string} name
 * @param {string} state  "not_ready" or "logged_out"
 * @param {HTMLElement} opener
 */
function askReason(operator, name, state, opener) {
  pending.operator = operator;
  pending.state = state;
  pending.opener = opener;
  byId("reason-title").textContent = say(state === "not_ready" ? "dialog.not_ready"
    : "dialog.sign_out", { operator: name });
  reasonInput.value = "";
  showReasonError("");
  dialog.showModal();
  reasonInput.focus();
}

/** @param {string} text */
function showReasonError(text) {
  reasonError.textContent = text;
  reasonError.hidden = !text;
  if (text) reasonInput.setAttribute("aria-invalid", "true");
  else reasonInput.removeAttribute("aria-invalid");
}

byId("reason-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const given = reasonInput.value.trim();
  if (!given) {
    showReasonError(say("reason.missing"));
    reasonInput.focus();
    return;
  }
  const response = await request(`/api/operators/${encodeURIComponent(pending.operator)}/state`, {
    method: "PUT", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ state: pending.state, reason: given }),
  });
  if (!response.ok) {
    showReasonError(await reason(response));
    return;
  }
  dialog.close();
  dirty.operators.add(pending.operator);
  void flush();
});
byId("reason-cancel").addEventListener("click", () => dialog.close());
dialog.addEventListener("close", () => {
  const row = pending.opener?.closest("tr");
  const again = row?.isConnected ? pending.opener : byId("operator-rows")
    .querySelector(`tr[data-key="${CSS.escape(pending.operator)}"] button`);
  if (again instanceof HTMLElement) again.focus();
});

byId("operator-rows").addEventListener("click", (event) => {
  const target = event.target;
  if (!(target instanceof HTMLButtonElement)) return;
  const row = target.closest("tr");
  const operator = row?.dataset.key;
  if (!row || !operator) return;
  const name = row.querySelector("th")?.textContent ?? operator;
  askReason(operator, name, target.dataset.action ?? "not_ready", target);
});

for (const select of [teamFilter, queueFilter]) {
  select.addEventListener("change", () => {
    for (const row of byId("operator-rows").querySelectorAll("tr[data-key]")) {
      if (row instanceof HTMLElement) filter(row);
    }
  });
}

// --- help requests ---------------------------------------------------------------------------

/** @param {Record<string, any>} data */
function helpToast(data) {
  const toast = make("div", "", "toast");
  toast.setAttribute("role", "group");
  const text = make("p", say("help", { operator: String(data.agent_id ?? ""),
    queue: String(data.queue ?? "") }));
  text.id = `help-${String(data.call_id ?? "")}`;
  toast.setAttribute("aria-labelledby", text.id);
  const join = button(say("help.join"), "join");
  const dismiss = button(say("help.dismiss"), "dismiss");
  join.addEventListener("click", () => {
    void monitor(String(data.call_id ?? ""), "whisper");
    toast.remove();
  });
  dismiss.addEventListener("click", () => toast.remove());
  toast.append(text, join, dismiss);
  byId("toasts").append(toast);
  beep();
}

// --- live events -----------------------------------------------------------------------------

let socketDelay = 1000;

function connectEvents() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(
    `${scheme}://${location.host}/api/events?topics=operator,call,queue`);
  socket.addEventListener("open", () => {
    socketDelay = 1000;
    if (byId("console-alert").textContent === say("events.lost")) alertText("");
  });
  socket.addEventListener("message", (message) => {
    /** @type {{type: string, topic?: string, data?: Record<string, any>}} */
    const event = JSON.parse(String(message.data));
    onEvent(event);
  });
  socket.addEventListener("close", () => {
    alertText(say("events.lost"));
    window.setTimeout(connectEvents, socketDelay);
    socketDelay = Math.min(socketDelay * 2, 15000);
  });
}

/** @param {{type: string, topic?: string, data?: Record<string, any>}} event */
function onEvent(event) {
  const data = event.data ?? {};
  if (event.type === "subscribed") {
    dirty.everyone = true;
    dirty.queues = true;
    dirty.calls = true;
  } else if (event.type === "AgentStateChanged") {
    dirty.operators.add(String(data.agent_id));
    dirty.calls = true;
    dirty.queues = true;
  } else if (event.type === "HelpRequested") {
    helpToast(data);
  } else if (event.type === "SupervisorMonitoring" && data.supervisor === config.user) {
    const mode = String(data.mode);
    const operator = monitoring.operator || String(data.agent_id ?? "");
    byId("monitor-state").textContent = say(`monitor.${mode}`, { operator });
    if (mode === "left" || mode === "takeover") {  // no longer a listener of the call
      monitoring.call = "";
      monitoring.mode = "";
    } else {
      monitoring.call = String(data.call_id);
      monitoring.mode = mode;
    }
    dirty.calls = true;
  } else if (event.topic === "call") {
    dirty.calls = true;
  } else if (event.topic === "queue") {
    dirty.queues = true;
  }
}

// --- the phone -------------------------------------------------------------------------------

/** @type {Softphone | null} */
let phone = null;

/** @param {CallDetail} call */
function onPhoneCall(call) {
  // the node calls this phone to join a conversation: it is answered at once
  if (call.state === "ringing" && call.direction === "incoming" && call.parley?.monitor) {
    phone?.answer(call.id);
  }
  document.body.dataset.call = call.state;
}

async function startPhone() {
  phone = await sessionPhone(config, onPhoneCall);
  await phone?.start();
}

byId("sign-out-form").addEventListener("submit", () => phone?.stop());
window.addEventListener("pagehide", () => phone?.stop());
window.setInterval(tick, 1000);
window.setInterval(() => { dirty.queues = true; }, 1000);  // waits grow between events
window.setInterval(() => { void flush(); }, 250);
connectEvents();
void flush();
startPhone().catch((error) => { byId("phone-state").textContent = String(error); });
