// The supervisor console's runtime: draws the Queues, Operators and Calls tables from
// /supervisor/live, then follows /api/events: call rows arrive as changes keyed by call id
// (LiveCallChanged: added, changed, removed) and are patched in place; operator rows arrive
// as their changed fields keyed by operator (OperatorRowChanged) and are redrawn from the row
// they patch, so the page never asks for rows again between (re)connections; for queues it
// asks again after an event (a few times a second at most). What arrives is drawn once per animation frame, and the
// durations tick from one timer that writes only the cells on screen, so 1,400 operators and
// 1,000 calls stay smooth. It runs the browser phone that joins calls (answering the node's
// monitoring call by itself), the help-request toasts and the threshold alerts. Every figure
// and label comes from the server.
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
 * @property {string} [reason]
 * @property {string} state_text
 * @property {string | null} since
 * @property {string} call
 * @property {string | null} call_since
 * @property {string} calls_today
 * @property {string} talk_today
 * @property {boolean} signed_in
 */

/**
 * A call's row as the node sends it: in /supervisor/live, and as a change (LiveCallChanged
 * on /api/events: "added", "changed" or "removed").
 * @typedef {object} CallRow
 * @property {string} call_id
 * @property {string} [change]
 * @property {string} queue
 * @property {string} operator
 * @property {string} caller
 * @property {string} state
 * @property {string} started_at
 * @property {string | null} answered_at
 */

/**
 * An operator's changed fields (OperatorRowChanged on /api/events).
 * @typedef {object} OperatorChange
 * @property {string} operator
 * @property {Partial<Record<"state" | "reason" | "since" | "call" | "call_since"
 *   | "calls_today" | "talk_today_s", string | null>>} fields
 */

/**
 * @typedef {object} LiveAnswer
 * @property {string} now
 * @property {QueueRow[]} [queues]
 * @property {OperatorRow[]} [operators]
 * @property {CallRow[]} [calls]
 * @property {Record<string, string>} [names]  operator -> display name
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
 * @param {Element} node
 * @param {string} text
 */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// --- durations: one timer, only the cells on screen --------------------------------------------

/** When each ticking cell counts from (epoch ms). */
const sinceOf = /** @type {WeakMap<Element, number>} */ (new WeakMap());
/** The ticking cells on screen now: the timer writes only these. */
const onScreen = /** @type {Set<Element>} */ (new Set());
const watcher = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (entry.isIntersecting) {
      onScreen.add(entry.target);
      show(entry.target, Date.now() + skew);
    } else {
      onScreen.delete(entry.target);
    }
  }
});

/**
 * @param {Element} cell
 * @param {number} now
 */
function show(cell, now) {
  const since = sinceOf.get(cell);
  setText(cell, since === undefined ? "–" : clock((now - since) / 1000));
}

/**
 * Make ``cell`` count from ``since`` (nothing: a dash).
 * @param {HTMLElement} cell
 * @param {string | null} since
 */
function countFrom(cell, since) {
  if ((cell.dataset.since ?? null) === since) return;
  if (since) {
    cell.dataset.since = since;
    sinceOf.set(cell, Date.parse(since));
  } else {
    delete cell.dataset.since;
    sinceOf.delete(cell);
  }
  if (!cell.classList.contains("tick")) {
    cell.classList.add("tick");
    watcher.observe(cell);
  }
  show(cell, Date.now() + skew);
}

function tick() {
  const now = Date.now() + skew;
  for (const cell of onScreen) {
    if (cell.isConnected) show(cell, now);
    else {
      onScreen.delete(cell);
      watcher.unobserve(cell);
    }
  }
}

/**
 * A cell that counts seconds from ``since``.
 * @param {string | null} since
 * @param {string} [tag]
 */
function ticking(since, tag = "td") {
  const cell = make(tag);
  countFrom(cell, since);
  return cell;
}

// --- rows ------------------------------------------------------------------------------------

/** @param {Element} row  gone: its ticking cells are no longer watched */
function forget(row) {
  for (const cell of row.querySelectorAll(".tick")) {
    watcher.unobserve(cell);
    onScreen.delete(cell);
  }
}

/** One table body's rows by key, with what each was drawn from (to redraw only what changed). */
class Rows {
  /** @param {string} id  the tbody's id */
  constructor(id) {
    this.body = byId(id);
    /** @type {Map<string, {row: HTMLTableRowElement, content: string}>} */
    this.rows = new Map();
  }

  /** @param {string} key */
  get(key) { return this.rows.get(key)?.row; }

  /**
   * Give ``row`` and its cells their table roles (the long tables are laid out as grids).
   * @param {HTMLTableRowElement} row
   */
  roles(row) {
    if (this.body.getAttribute("role") !== "rowgroup") return;
    row.setAttribute("role", "row");
    for (const cell of row.cells) {
      cell.setAttribute("role", cell.tagName === "TH" ? "rowheader" : "cell");
    }
  }

  /**
   * Put a row: a new one is added, a changed one replaced, an unchanged one left.
   * @param {string} key
   * @param {string} content  what the row shows, as compared
   * @param {() => HTMLTableRowElement} build
   * @returns {HTMLTableRowElement | null}  the row drawn, if it was
   */
  put(key, content, build) {
    const old = this.rows.get(key);
    if (old?.content === content) return null;
    const row = build();
    row.dataset.key = key;
    this.roles(row);
    this.rows.set(key, { row, content });
    if (old) {
      const hadFocus = old.row.contains(document.activeElement);
      const action = document.activeElement instanceof HTMLElement
        ? document.activeElement.dataset.action : undefined;
      forget(old.row);
      old.row.replaceWith(row);
      if (hadFocus) {  // focus is never lost: the same button in the new row, else the row
        const again = action ? row.querySelector(`[data-action="${action}"]`) : null;
        if (again instanceof HTMLElement && !(again instanceof HTMLButtonElement
            && again.disabled)) again.focus();
        else { row.tabIndex = -1; row.focus(); }
      }
    } else {
      this.body.append(row);
    }
    return row;
  }

  /**
   * Add a row that is then patched in place.
   * @param {string} key
   * @param {HTMLTableRowElement} row
   */
  add(key, row) {
    row.dataset.key = key;
    this.roles(row);
    this.rows.set(key, { row, content: "" });
    this.body.append(row);
  }

  /** @param {string} key */
  remove(key) {
    const old = this.rows.get(key);
    if (!old) return;
    this.rows.delete(key);
    if (old.row.contains(document.activeElement)) {  // focus goes to the next row
      const next = old.row.nextElementSibling ?? old.row.previousElementSibling;
      if (next instanceof HTMLElement) { next.tabIndex = -1; next.focus(); }
    }
    forget(old.row);
    old.row.remove();
  }

  /** @param {Set<string>} keep  remove the rows whose key is not in it */
  prune(keep) {
    for (const key of [...this.rows.keys()]) if (!keep.has(key)) this.remove(key);
  }

  /** @param {string} text @param {number} columns */
  placeholder(text, columns) {
    const empty = this.body.querySelector("tr.empty");
    if (this.rows.size && empty) empty.remove();
    if (!this.rows.size && !empty) {
      const row = /** @type {HTMLTableRowElement} */ (make("tr", "", "empty"));
      const cell = /** @type {HTMLTableCellElement} */ (make("td", text, "quiet"));
      cell.colSpan = columns;
      row.append(cell);
      this.roles(row);
      this.body.append(row);
    }
  }
}

const queueRows = new Rows("queue-rows");
const operatorRows = new Rows("operator-rows");
const callRows = new Rows("call-rows");

const QUEUE_CELLS = ["waiting", "longest_wait", "expected_wait", "ready", "busy", "wrap_up",
  "not_ready", "service_level", "asa", "abandon_rate"];
/** The alerts raised now, "queue:cell" -> text. */
const raised = new Map();

/** @param {QueueRow[]} queues */
function drawQueues(queues) {
  const fresh = [];
  for (const queue of queues) {
    queueRows.put(queue.key, JSON.stringify(queue), () => {
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
  queueRows.prune(new Set(queues.map((queue) => queue.key)));
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
  for (const operator of operators) {
    operatorData.set(operator.key, operator);
    const row = operatorRows.put(operator.key, JSON.stringify(operator), () => {
      const tr = /** @type {HTMLTableRowElement} */ (make("tr"));
      tr.dataset.teams = operator.teams.join(" ");
      tr.dataset.queues = operator.queues.join(" ");
      tr.dataset.state = operator.state;
      const name = make("th", operator.name);
      name.setAttribute("scope", "row");
      const call = make("td");
      if (operator.call) {
        call.append(`${operator.call} `, ticking(operator.call_since, "span"));
        call.lastElementChild?.classList.add("quiet");
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
  if (!partial) operatorRows.prune(new Set(operators.map((operator) => operator.key)));
  operatorRows.placeholder(say("no_operators"), 7);
}

const lang = document.documentElement.lang || "en";
/** The operators' rows as last drawn, by key (what their changes patch). */
const operatorData = /** @type {Map<string, OperatorRow>} */ (new Map());

/**
 * The operator's row with ``fields`` changed, its state named from the catalog.
 * @param {OperatorRow} row
 * @param {OperatorChange["fields"]} fields
 * @returns {OperatorRow}
 */
function patchOperator(row, fields) {
  const next = { ...row };
  for (const [name, value] of Object.entries(fields)) {
    if (name === "state" || name === "reason" || name === "call") next[name] = value ?? "";
    else if (name === "since" || name === "call_since") next[name] = value ?? null;
    else if (name === "calls_today") next.calls_today = Number(value).toLocaleString(lang);
    else if (name === "talk_today_s") next.talk_today = clock(Number(value));
  }
  const reasonGiven = next.reason ?? "";
  const named = say(`state.${next.state}`);
  next.state_text = next.state === "not_ready" && reasonGiven ? `${named} · ${reasonGiven}`
    : named;
  next.signed_in = next.state !== "logged_out";
  return next;
}

const monitoring = { call: "", mode: "", operator: "" };
/** Operators' display names (the node's), for the Calls table. */
let names = /** @type {Record<string, string>} */ ({});
/** What each call row shows now, by call id. */
const calls = /** @type {Map<string, CallRow>} */ (new Map());

/** @param {CallRow} call */
function buildCall(call) {
  const tr = /** @type {HTMLTableRowElement} */ (make("tr"));
  const queue = make("th");
  queue.setAttribute("scope", "row");
  const actions = make("td", "", "row-actions");
  for (const mode of ["listen", "whisper", "barge"]) {
    actions.append(button(say(mode), mode));
  }
  actions.append(button(say("take_over"), "take_over"), button(say("hang_up"), "hang_up"));
  tr.append(queue, make("td"), make("td"), make("td"), ticking(null), actions);
  callRows.add(call.call_id, tr);
  return tr;
}

/**
 * Write ``call`` into its row (made if new), touching only what differs.
 * @param {CallRow} call
 */
function fillCall(call) {
  const tr = callRows.get(call.call_id) ?? buildCall(call);
  const [queue, operator, caller, state, since, actions] = tr.cells;
  const talking = call.state === "talking" && Boolean(call.operator);
  const mine = monitoring.call === call.call_id ? monitoring.mode : "";
  tr.dataset.operator = call.operator;
  setText(queue, call.queue || "–");
  setText(operator, names[call.operator] ?? (call.operator || "–"));
  setText(caller, call.caller);
  setText(state, say(`call_state.${call.state}`) || call.state);
  countFrom(since, call.answered_at ?? call.started_at);
  for (const control of actions.querySelectorAll("button")) {
    const action = control.dataset.action ?? "";
    if (["listen", "whisper", "barge", "take_over"].includes(action)) {
      if (control.disabled === talking) control.disabled = !talking;
    }
    if (["listen", "whisper", "barge"].includes(action)) {
      const pressed = String(mine === action);
      if (control.getAttribute("aria-pressed") !== pressed) {
        control.setAttribute("aria-pressed", pressed);
      }
    }
  }
  const leave = actions.querySelector('[data-action="leave"]');
  if (mine && !leave) {
    actions.querySelector('[data-action="hang_up"]')?.before(button(say("leave"), "leave"));
  } else if (!mine && leave) {
    if (leave === document.activeElement) {
      const hangUp = actions.querySelector('[data-action="hang_up"]');
      if (hangUp instanceof HTMLElement) hangUp.focus();
    }
    leave.remove();
  }
}

/** @param {CallRow} call  a change: the row is added, patched or removed */
function applyCall(call) {
  if (call.change === "removed") {
    calls.delete(call.call_id);
    callRows.remove(call.call_id);
    if (monitoring.call === call.call_id) {
      monitoring.call = "";
      monitoring.mode = "";
    }
  } else {
    calls.set(call.call_id, call);
    fillCall(call);
  }
}

/** The monitored call changed (or ended): its row's buttons say so. */
function redrawMonitored() {
  for (const call of calls.values()) fillCall(call);
}

// --- drawing, once per animation frame ---------------------------------------------------------

const arrived = {
  /** @type {QueueRow[] | null} */
  queues: null,
  /** @type {Map<string, OperatorRow>} */
  operators: new Map(),
  /** @type {Set<string> | null} every operator now (a full answer): the others go */
  everyone: null,
  /** @type {Map<string, OperatorChange["fields"]>} operators' changed fields, merged */
  operatorChanges: new Map(),
  /** the operators' changes wait for their whole list after a (re)connection */
  waitingForOperators: true,
  /** @type {CallRow[] | null} the whole list (a fresh start) */
  snapshot: null,
  /** @type {Map<string, CallRow>} changes since, the latest per call */
  calls: new Map(),
  /** the changes wait for the whole list after a (re)connection */
  waitingForList: true,
  monitored: false,
};
let frameAsked = false;

function later() {
  if (frameAsked) return;
  frameAsked = true;
  requestAnimationFrame(draw);
}

/** Apply what arrived since the last frame, all at once. */
function draw() {
  frameAsked = false;
  if (arrived.queues) drawQueues(arrived.queues);
  arrived.queues = null;
  if (arrived.operators.size || arrived.everyone) {
    drawOperators([...arrived.operators.values()], true);
    if (arrived.everyone) operatorRows.prune(arrived.everyone);
    operatorRows.placeholder(say("no_operators"), 7);
    arrived.operators.clear();
    arrived.everyone = null;
  }
  if (!arrived.waitingForOperators && arrived.operatorChanges.size) {
    const patched = [];
    for (const [key, fields] of arrived.operatorChanges) {
      const row = operatorData.get(key);
      if (row) patched.push(patchOperator(row, fields));
    }
    arrived.operatorChanges.clear();
    drawOperators(patched, true);
  }
  if (!arrived.waitingForList) {
    if (arrived.snapshot) {
      calls.clear();
      callRows.prune(new Set(arrived.snapshot.map((call) => call.call_id)));
      for (const call of arrived.snapshot) applyCall(call);
      arrived.snapshot = null;
    }
    for (const call of arrived.calls.values()) applyCall(call);
    arrived.calls.clear();
    if (arrived.monitored) redrawMonitored();
    arrived.monitored = false;
    callRows.placeholder(say("no_calls"), 6);
  }
  const now = Date.now();
  document.body.dataset.drawn = String(now);  // when the page last drew a change
}

// --- asking for rows -------------------------------------------------------------------------

const dirty = { queues: false, calls: false, everyone: true };
let asking = false;

async function flush() {
  if (asking) return;
  const parts = [];
  if (dirty.queues) parts.push("queues");
  if (dirty.calls) parts.push("calls");
  if (dirty.everyone) parts.push("operators");
  if (!parts.length) return;
  const query = new URLSearchParams({ parts: parts.join(",") });
  const everyone = dirty.everyone;
  dirty.queues = false;
  dirty.calls = false;
  dirty.everyone = false;
  asking = true;
  try {
    const response = await request(`/supervisor/live?${query}`);
    if (!response.ok) return;
    /** @type {LiveAnswer} */
    const answer = await response.json();
    skew = Date.parse(answer.now) - Date.now();
    if (answer.queues) arrived.queues = answer.queues;
    if (answer.calls) {
      names = answer.names ?? {};
      arrived.snapshot = answer.calls;
      arrived.waitingForList = false;
    }
    if (answer.operators) {
      for (const operator of answer.operators) arrived.operators.set(operator.key, operator);
      if (everyone) {
        arrived.everyone = new Set(answer.operators.map((operator) => operator.key));
        arrived.waitingForOperators = false;
      }
    }
    later();
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
  const row = callRows.get(call);
  const operator = row?.querySelector("td")?.textContent ?? "";
  monitoring.call = call;
  monitoring.mode = mode;
  monitoring.operator = operator;
  const answer = await response.json();
  byId("monitor-state").textContent = answer.status === "ringing" && config.phone === "desk"
    ? say("monitor.ringing", { operator }) : say(`monitor.${mode}`, { operator });
  arrived.monitored = true;
  later();
}

/**
 * Take the customer over from the operator, once confirmed: the phone in the call stays (no
 * second call), else the supervisor's phone rings first.
 * @param {string} call
 * @param {string} [fallback]  who the operator is, if the call's row is not drawn
 */
async function takeOver(call, fallback = "") {
  const row = callRows.get(call);
  const operator = row?.querySelector("td")?.textContent || fallback;
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
  arrived.monitored = true;
  later();
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
  dialog.close();  // the operator's new state arrives as a change of their row
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
  const call = String(data.call_id ?? "");
  // Join whispers (coaching the operator); the others listen, barge in or take the call over
  const join = button(say("help.join"), "whisper");
  const choices = [join, button(say("listen"), "listen"), button(say("barge"), "barge"),
    button(say("take_over"), "take_over")];
  for (const choice of choices) {
    choice.addEventListener("click", () => {
      const action = choice.dataset.action ?? "";
      if (action === "take_over") void takeOver(call, String(data.agent_id ?? ""));
      else void monitor(call, action);
      toast.remove();
    });
  }
  const dismiss = button(say("help.dismiss"), "dismiss");
  dismiss.addEventListener("click", () => toast.remove());
  toast.append(text, ...choices, dismiss);
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
  if (event.type === "subscribed" || event.type === "dropped") {
    // (again), or changes lost: the whole lists, then their changes
    dirty.everyone = true;
    dirty.queues = true;
    dirty.calls = true;
    arrived.waitingForList = true;
    arrived.waitingForOperators = true;
  } else if (event.type === "OperatorRowChanged") {
    const change = /** @type {OperatorChange} */ (data);
    const merged = arrived.operatorChanges.get(change.operator);
    arrived.operatorChanges.set(change.operator, merged ? { ...merged, ...change.fields }
      : change.fields);
    later();
  } else if (event.type === "LiveCallChanged") {
    const call = /** @type {CallRow} */ (data);
    arrived.calls.set(call.call_id, call);
    later();
  } else if (event.type === "AgentStateChanged") {
    dirty.queues = true;  // the queue's ready/busy figures
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
    arrived.monitored = true;
    later();
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
