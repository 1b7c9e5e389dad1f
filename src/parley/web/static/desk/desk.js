// The desk runtime: the one script of the operator's desk. It owns what must outlive any
// region the server re-renders: the browser phone, the live event socket (reconnecting),
// the hotkeys and the timers. Regions (the customer card, today's figures) are rendered by
// the server and swapped in here; the browser computes no KPI and decides no permission.
import { ScriptForm } from "../script/script_form.js";
import { byId, reason, request, say } from "./page.js";
import { sessionPhone } from "./session_phone.js";

/** @typedef {import("../phone/softphone.js").Softphone} Softphone */
/** @typedef {import("../phone/softphone.js").CallDetail} CallDetail */

/**
 * What the server writes into the page.
 * @typedef {object} DeskConfig
 * @property {string} user
 * @property {string} desk_id
 * @property {string} phone  "browser" or "desk"
 * @property {string} device
 * @property {string} jssip  where the JsSIP module is served
 * @property {string[]} queues  the queues the operator serves
 * @property {Record<string, number>} wrap_up_s  per queue
 * @property {string} state
 * @property {string | null} state_since
 * @property {Record<string, string>} strings
 */

/**
 * One message of /api/events.
 * @typedef {object} LiveEvent
 * @property {string} type
 * @property {string} [topic]
 * @property {string} [at]
 * @property {Record<string, any>} [data]
 */

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} kind
 * @returns {T}
 */
function element(id, kind) {
  const found = byId(id);
  if (!(found instanceof kind)) throw new Error(`#${id} is not a ${kind.name}`);
  return found;
}

/** @type {DeskConfig} */
const config = JSON.parse(byId("desk-config").textContent ?? "{}");

/** @param {number} seconds */
function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const minutes = Math.floor(whole / 60);
  const hours = Math.floor(minutes / 60);
  const mm = String(minutes % 60).padStart(hours ? 2 : 1, "0");
  const ss = String(whole % 60).padStart(2, "0");
  return hours ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

const buttons = {
  ready: element("ready", HTMLButtonElement),
  notReady: element("not-ready", HTMLButtonElement),
  answer: element("answer", HTMLButtonElement),
  reject: element("reject", HTMLButtonElement),
  hold: element("hold", HTMLButtonElement),
  mute: element("mute", HTMLButtonElement),
  keypad: element("keypad-toggle", HTMLButtonElement),
  hangup: element("hangup", HTMLButtonElement),
  help: element("help", HTMLButtonElement),
  transfer: element("transfer", HTMLButtonElement),
  consult: element("consult", HTMLButtonElement),
  consultComplete: element("consult-complete", HTMLButtonElement),
  conference: element("conference", HTMLButtonElement),
  consultCancel: element("consult-cancel", HTMLButtonElement),
  signOut: element("sign-out", HTMLButtonElement),
  shortcuts: element("shortcuts-open", HTMLButtonElement),
};
const reasonSelect = element("reason", HTMLSelectElement);
const transferTo = element("transfer-to", HTMLInputElement);
const cardRegion = byId("card");
const shortcuts = element("shortcuts", HTMLDialogElement);

// --- the operator's state --------------------------------------------------------------------

const desk = {
  state: config.state,
  reason: "",
  since: config.state_since ? Date.parse(config.state_since) : Date.now(),
  /** @type {CallDetail | null} */
  call: null,
  /** the interaction of the call on the card, and when it started ringing */
  interaction: "",
  queue: "",
  callSince: 0,
  cardDirty: false,
  talking: false,
  signedOut: false,
  /** @type {{party: string, state: string} | null} the consultation this operator runs */
  consult: null,
  /** the operator consulting this desk's user on the current call ("" when nobody) */
  consultedBy: "",
  /** the customer's number, once a consultation hands the customer to this desk */
  customer: "",
  /** @type {ScriptForm | null} the current call's script form */
  script: null,
};

function showState() {
  const name = say(desk.state);
  byId("state-name").textContent = desk.state === "not_ready" && desk.reason
    ? `${name} · ${desk.reason}` : name;
  document.body.dataset.state = desk.state;
  buttons.ready.setAttribute("aria-pressed", String(desk.state === "ready"));
  buttons.notReady.setAttribute("aria-pressed", String(desk.state === "not_ready"));
  tick();
}

function tick() {
  const inState = (Date.now() - desk.since) / 1000;
  const wrapUp = byId("wrap-up-timer");
  if (desk.state === "wrap_up") {
    const limit = config.wrap_up_s[desk.queue] ?? 0;
    const left = limit - inState;
    byId("state-time").textContent = limit ? clock(left) : clock(inState);
    wrapUp.textContent = limit ? `${say("wrap_up")}: ${clock(left)}` : "";
  } else {
    byId("state-time").textContent = clock(inState);
    wrapUp.textContent = "";
  }
  if (desk.call && desk.call.state !== "ended") {
    byId("call-timer").textContent = clock((Date.now() - desk.callSince) / 1000);
  }
}

/**
 * Ask for a state: ready, or not ready with the chosen reason.
 * @param {"ready" | "not_ready"} state
 */
async function setState(state) {
  const body = state === "ready" ? { state } : { state, reason: reasonSelect.value };
  const response = await request("/api/operators/me/state", {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) alertText(say("state.failed", { reason: await reason(response) }));
}

/** @param {string} text */
function alertText(text) {
  const box = byId("desk-alert");
  box.textContent = text;
  box.hidden = !text;
}

// --- live events -----------------------------------------------------------------------------

let socketDelay = 1000;
/** @type {WebSocket | null} */
let socket = null;

function connectEvents() {
  if (desk.signedOut) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/api/events?topics=operator`);
  socket.addEventListener("open", () => {
    socketDelay = 1000;
    if (byId("desk-alert").textContent === say("events.lost")) alertText("");
  });
  socket.addEventListener("message", (message) => {
    /** @type {LiveEvent} */
    const event = JSON.parse(String(message.data));
    onEvent(event);
  });
  socket.addEventListener("close", () => {
    if (desk.signedOut) return;
    alertText(say("events.lost"));
    window.setTimeout(connectEvents, socketDelay);
    socketDelay = Math.min(socketDelay * 2, 15000);
    refreshState();
  });
}

/** @param {LiveEvent} event */
function onEvent(event) {
  const data = event.data ?? {};
  // the desk's other modules (static/desk/recording.js) follow the same stream
  document.dispatchEvent(new CustomEvent("desk:event", { detail: event }));
  if (event.type === "subscribed") {
    refreshState();  // what changed before the stream was there
    loadPreview(false);
  } else if (event.type === "AgentStateChanged" && data.agent_id === config.user) {
    desk.state = String(data.new);
    desk.reason = String(data.reason ?? "");
    desk.since = Date.now();
    showState();
    if (desk.state !== "on_call" && desk.state !== "on_hold" && desk.state !== "ringing") {
      refreshToday();
    }
    if (desk.state !== "reserved" && previewBody.querySelector("#preview-form")) {
      loadPreview(false);  // the dialer withdrew the preview (or it was decided elsewhere)
    }
  } else if (event.type === "ShowPreview" && data.agent_id === config.user) {
    loadPreview(true);
  } else if (event.type === "SupervisorMonitoring" && data.agent_id === config.user
      && ["whisper", "barge", "left", "takeover"].includes(String(data.mode))) {
    // silent listening is not announced; a whisper, a barge and the end of either are
    byId("call-note").textContent = say(`supervisor.${String(data.mode)}`,
      { supervisor: String(data.supervisor ?? "") });
  } else if (event.type === "ConsultationChanged" && data.agent_id === config.user) {
    onConsultation(data);
  } else if (event.type === "DeskTakenOver" && data.desk_id === config.desk_id) {
    takenOver(String(data.address ?? ""), String(data.at ?? ""));
  }
}

/** The state as the store has it (after a reconnect: what happened meanwhile). */
async function refreshState() {
  const response = await request("/desk/state");
  if (response.status === 401 || response.status === 403) return;
  if (!response.ok) return;
  const body = await response.json();
  if (body.state && (body.state !== desk.state || body.reason !== desk.reason)) {
    desk.state = body.state;
    desk.reason = body.reason ?? "";
    desk.since = body.since ? Date.parse(body.since) : Date.now();
    showState();
  }
}

/**
 * Another desk took over: stop everything here and say why.
 * @param {string} address
 * @param {string} at
 */
function takenOver(address, at) {
  desk.signedOut = true;
  phone?.stop();
  phone = null;
  socket?.close();
  const when = at ? new Date(at).toLocaleTimeString(document.documentElement.lang) : "";
  alertText(say("taken_over", { address, time: when }));
  document.body.dataset.takenOver = "true";
  for (const control of document.querySelectorAll("main button, main input, main select, "
      + "main textarea, .state-actions button, .state-actions select")) {
    if (control instanceof HTMLButtonElement || control instanceof HTMLInputElement
        || control instanceof HTMLSelectElement || control instanceof HTMLTextAreaElement) {
      control.disabled = true;
    }
  }
  byId("desk-alert").focus();
}

// --- queues and today's figures ----------------------------------------------------------------

async function refreshQueues() {
  if (desk.signedOut || config.queues.length === 0) return;
  const response = await request("/api/live/queues");
  if (!response.ok) return;
  /** @type {{queue: string, waiting: number, longest_wait_s: number}[]} */
  const figures = await response.json();
  for (const row of document.querySelectorAll("#queue-rows tr[data-queue]")) {
    const found = figures.find((figure) => figure.queue === row.getAttribute("data-queue"));
    const cells = row.querySelectorAll("td");
    if (!found || cells.length < 2) continue;
    cells[0].textContent = String(found.waiting);
    cells[1].textContent = found.waiting ? clock(found.longest_wait_s) : "–";
    row.classList.toggle("busy", found.waiting > 0);
  }
}

async function refreshToday() {
  if (desk.signedOut) return;
  const response = await request("/desk/today");
  if (response.ok) byId("today").innerHTML = await response.text();
}

// --- own voicemail ---------------------------------------------------------------------------

const voicemailRegion = byId("voicemail");

/** Draw the operator's own voicemail (server-rendered), keeping focus where it was. */
async function refreshVoicemail() {
  if (desk.signedOut) return;
  const response = await request("/desk/voicemail");
  if (!response.ok) return;
  const focused = document.activeElement?.id;
  voicemailRegion.innerHTML = await response.text();
  if (focused) document.getElementById(focused)?.focus();
}

voicemailRegion.addEventListener("click", async (event) => {
  const target = event.target;
  if (!(target instanceof HTMLButtonElement) || !target.dataset.id) return;
  const id = encodeURIComponent(target.dataset.id);
  let response;
  if (target.classList.contains("voicemail-heard")) {
    response = await request(`/api/voicemails/${id}/heard`, { method: "POST" });
  } else if (target.classList.contains("voicemail-delete")) {
    response = await request(`/api/voicemails/${id}`, { method: "DELETE" });
  } else {
    return;
  }
  if (!response.ok) alertText(say("voicemail.failed", { reason: await reason(response) }));
  await refreshVoicemail();
  byId("voicemail-title").setAttribute("tabindex", "-1");
  byId("voicemail-title").focus();  // the button is gone: focus stays in the panel
});

// --- the address book ------------------------------------------------------------------------

const peopleRegion = byId("people");

/** Draw the address book (server-rendered) once; presence badges are updated in place. */
async function loadPeople() {
  const response = await request("/desk/people");
  if (!response.ok) return;
  peopleRegion.innerHTML = await response.text();
  enablePeopleTransfer();
}

/** Update each person's presence badge. */
async function refreshPresence() {
  if (desk.signedOut || !peopleRegion.querySelector("[data-presence]")) return;
  const response = await request("/desk/presence");
  if (!response.ok) return;
  /** @type {Record<string, {presence: string, label: string}>} */
  const everyone = await response.json();
  for (const badge of peopleRegion.querySelectorAll("[data-presence]")) {
    if (!(badge instanceof HTMLElement)) continue;
    const now = everyone[badge.dataset.presence ?? ""];
    if (!now) continue;
    badge.textContent = now.label;
    badge.className = `presence ${now.presence}`;
  }
}

/** Transfer and consult buttons work only while the operator is in a call. */
function enablePeopleTransfer() {
  const talking = !buttons.transfer.disabled;
  for (const button of peopleRegion.querySelectorAll("button.people-transfer")) {
    if (button instanceof HTMLButtonElement) button.disabled = !talking;
  }
  for (const button of peopleRegion.querySelectorAll("button.people-consult")) {
    if (button instanceof HTMLButtonElement) button.disabled = buttons.consult.disabled;
  }
}

/** @param {string} number */
async function callNumber(number) {
  if (config.phone === "browser") {
    if (phone) phone.call(number);
    return;
  }
  const response = await request("/api/live/calls", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ device: config.device, number }),
  });
  if (!response.ok) alertText(say("call.failed", { reason: await reason(response) }));
}

peopleRegion.addEventListener("click", (event) => {
  const target = event.target;
  if (!(target instanceof HTMLButtonElement) || !target.dataset.number) return;
  if (target.classList.contains("people-call")) void callNumber(target.dataset.number);
  if (target.classList.contains("people-transfer")) {
    transferTo.value = target.dataset.number;
    void transfer();
  }
  if (target.classList.contains("people-consult")) {
    transferTo.value = target.dataset.number;
    void consult();
  }
});

peopleRegion.addEventListener("input", (event) => {
  const target = event.target;
  if (!(target instanceof HTMLInputElement) || target.id !== "people-filter") return;
  const wanted = target.value.trim().toLowerCase();
  for (const item of peopleRegion.querySelectorAll("li[data-search]")) {
    if (item instanceof HTMLElement) {
      item.hidden = Boolean(wanted) && !(item.dataset.search ?? "").includes(wanted);
    }
  }
});

// --- the customer card -----------------------------------------------------------------------

/**
 * Load the caller's card (server-rendered) into the card region.
 * @param {string} number
 * @param {string} interaction
 */
async function loadCard(number, interaction) {
  const query = new URLSearchParams({ number, interaction });
  const response = await request(`/desk/card?${query}`);
  if (!response.ok) return;
  cardRegion.innerHTML = await response.text();
  desk.cardDirty = false;
}

/** Save the card's form (the server answers with the card drawn again). */
async function saveCard() {
  const form = cardRegion.querySelector("form#card-form");
  if (!(form instanceof HTMLFormElement)) return;
  const focused = document.activeElement?.id ?? "";
  const response = await request("/desk/card", { method: "POST", body: new FormData(form) });
  if (!response.ok) {
    alertText(await reason(response));
    return;
  }
  cardRegion.innerHTML = await response.text();
  desk.cardDirty = false;
  const again = focused ? document.getElementById(focused) : null;
  (again ?? document.getElementById("card-save"))?.focus();  // focus is never lost
}

cardRegion.addEventListener("submit", (event) => {
  if (event.target instanceof HTMLFormElement && event.target.id === "card-form") {
    event.preventDefault();
    saveCard();
  }
});
cardRegion.addEventListener("input", () => { desk.cardDirty = true; });

// --- the preview of a campaign contact ----------------------------------------------------------

const previewRegion = byId("preview");
const previewBody = byId("preview-body");
const previewNote = byId("preview-note");

/**
 * Draw the operator's preview (server-rendered) in the Preview region, shown only while
 * there is a contact to decide on or a word about the last decision.
 * @param {boolean} focus  move focus to Dial (a contact just arrived)
 */
async function loadPreview(focus) {
  if (desk.signedOut) return;
  const response = await request("/desk/preview");
  if (!response.ok) return;
  showPreview(await response.text(), focus);
}

/**
 * @param {string} html
 * @param {boolean} focus
 */
function showPreview(html, focus) {
  const hadFocus = previewRegion.contains(document.activeElement);
  previewBody.innerHTML = html;
  const done = previewBody.querySelector("#preview-done");
  if (done) {
    previewNote.textContent = done.textContent;
    done.remove();
  }
  const form = previewBody.querySelector("#preview-form");
  previewRegion.hidden = !form && !previewNote.textContent
    && !previewBody.querySelector(".error");
  const invalid = previewRegion.querySelector("[aria-invalid='true']");
  if (invalid instanceof HTMLElement) invalid.focus();
  else if (form && (focus || hadFocus)) document.getElementById("preview-dial")?.focus();
  else if (hadFocus) buttons.ready.focus();  // focus is never lost
}

previewRegion.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.id !== "preview-form") return;
  event.preventDefault();
  const submitter = /** @type {SubmitEvent} */ (event).submitter;
  const body = new FormData(form, submitter);
  body.set("action", submitter instanceof HTMLElement ? submitter.dataset.action ?? "" : "");
  const response = await request("/desk/preview", { method: "POST", body });
  showPreview(await response.text(), false);
  if (response.ok && !previewBody.querySelector("#preview-form")) {
    buttons.ready.focus();
    loadPreview(true);  // the next contact may have been shown while this answer came
  }
});

/**
 * The instant a wall-clock time ("2026-12-03T15:00") names in an IANA zone.
 * @param {string} local
 * @param {string} zone
 */
function instantIn(local, zone) {
  const asUtc = Date.parse(`${local}:00Z`);
  if (Number.isNaN(asUtc)) return null;
  /** @param {number} at */
  const offset = (at) => {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    }).formatToParts(new Date(at));
    /** @param {string} type */
    const part = (type) => Number(parts.find((p) => p.type === type)?.value ?? 0);
    return Date.UTC(part("year"), part("month") - 1, part("day"), part("hour"),
      part("minute"), part("second")) - at;
  };
  const guess = asUtc - offset(asUtc);
  return new Date(asUtc - offset(guess));
}

// The reschedule time is typed in the customer's zone; the operator's own time shows beside it.
previewRegion.addEventListener("input", (event) => {
  const input = event.target;
  const form = previewRegion.querySelector("#preview-form");
  if (!(input instanceof HTMLInputElement) || input.id !== "preview-at"
      || !(form instanceof HTMLFormElement)) return;
  const zone = form.dataset.customerZone ?? "UTC";
  const mine = form.dataset.operatorZone ?? "UTC";
  const at = input.value ? instantIn(input.value, zone) : null;
  byId("preview-at-yours").textContent = at ? say("preview.yours", {
    time: new Intl.DateTimeFormat(document.documentElement.lang, {
      timeZone: mine, dateStyle: "short", timeStyle: "short",
    }).format(at),
    zone: mine,
  }) : "";
});

// --- the call --------------------------------------------------------------------------------

/** @type {Softphone | null} */
let phone = null;

/** @param {CallDetail} call */
function showCall(call) {
  const live = call.state !== "ended";
  const ringing = live && call.state === "ringing" && call.direction === "incoming";
  const talking = live && (call.state === "talking" || call.state === "held");
  buttons.answer.disabled = !ringing;
  buttons.reject.disabled = !ringing;
  buttons.hangup.disabled = !live || ringing;
  buttons.hold.disabled = !talking;
  buttons.mute.disabled = !talking;
  buttons.keypad.disabled = !talking;
  buttons.transfer.disabled = !talking || Boolean(desk.consult);
  buttons.consult.disabled = !talking || Boolean(desk.consult) || Boolean(desk.consultedBy);
  buttons.help.disabled = !talking;
  if (!live) showConsult(null);
  enablePeopleTransfer();
  buttons.hold.setAttribute("aria-pressed", String(talking && call.state === "held"));
  buttons.mute.setAttribute("aria-pressed", String(talking && call.muted));
  if (!talking) showKeypad(false);
  const remote = desk.customer || (call.parley?.caller ?? call.remote);
  byId("call-status").textContent = desk.consultedBy && (ringing || talking)
    ? say(`consulted.${ringing ? "ringing" : "talking"}`,
      { operator: desk.consultedBy, remote })
    : say(`call.${call.state}`, { remote });
  document.body.dataset.call = call.state;
  byId("call-facts").hidden = false;
  byId("call-queue").textContent = call.parley?.queue ?? "–";
  byId("call-caller").textContent = remote;
  showIvrData(call.parley?.data);
  // focus is never lost: it goes where the next action is
  const active = document.activeElement;
  const lost = !active || active === document.body
    || (active instanceof HTMLButtonElement && active.disabled);
  if (ringing) buttons.answer.focus();
  else if (talking && lost) buttons.hangup.focus();
  else if (!live && lost) buttons.ready.focus();
}

/** @param {string | undefined} text  the X-Parley-Data JSON */
function showIvrData(text) {
  const list = byId("ivr-list");
  list.replaceChildren();
  /** @type {Record<string, unknown>} */
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = {};
  }
  // what the call facts show already is left out
  const shown = ["language", "ani", "dnis", "queue"];
  const entries = Object.entries(data).filter(([key]) => !shown.includes(key));
  for (const [key, value] of entries) {
    const row = document.createElement("div");
    const term = document.createElement("dt");
    const detail = document.createElement("dd");
    term.textContent = key;
    detail.textContent = typeof value === "string" ? value : JSON.stringify(value);
    row.append(term, detail);
    list.append(row);
  }
  byId("ivr-data").hidden = entries.length === 0;
}

/** @param {CallDetail} call */
function onCall(call) {
  const fresh = !desk.call || desk.call.id !== call.id;
  desk.call = call;
  if (fresh && call.state !== "ended") {
    desk.callSince = Date.now();
    desk.talking = false;
    desk.interaction = call.parley?.interaction ?? "";
    desk.queue = call.parley?.queue ?? "";
    desk.consultedBy = call.parley?.consult ?? "";
    desk.customer = "";
    // the last call's notes (transferred, recording resumed…) are not about this one; a
    // consultation's own note may have come first, by event
    if (!desk.consultedBy) byId("call-note").textContent = "";
    const number = call.parley?.caller ?? call.remote;
    if (call.direction === "incoming") loadCard(number, desk.interaction);
  }
  if (call.state === "talking" && !desk.talking) {
    desk.talking = true;  // the duration counts from the answer on
    desk.callSince = Date.now();
    // the call is this operator's to close once answered (a consulted operator's once the
    // customer is handed over)
    if (!desk.consultedBy) void loadScript(desk.interaction);
  }
  if (call.state === "ended") {
    if (desk.cardDirty) saveCard();  // the card's edits are kept with the call
    window.setTimeout(refreshToday, 1500);
  }
  showCall(call);
  document.dispatchEvent(new CustomEvent("desk:call", {
    detail: { ...call, interaction: desk.interaction, queue: desk.queue },
  }));
}

/** @param {boolean} open */
function showKeypad(open) {
  byId("keypad").hidden = !open;
  buttons.keypad.setAttribute("aria-expanded", String(open));
}

async function startPhone() {
  phone = await sessionPhone(config, onCall);
  await phone?.start();
}

/** The live call's id as the API knows it (the interaction). */
function callId() {
  return desk.interaction;
}

/**
 * Before the call is handed on (a transfer, a consultation's hand-over or conference): the
 * card's edits and the script's answers so far are kept with the call, so the next operator
 * sees them although nobody has closed the call yet.
 */
async function keepForNext() {
  if (desk.cardDirty) await saveCard();
  const form = desk.script;
  if (!form || form.interactionId !== callId()) return;
  const { answers, notes } = form.body();
  if (Object.keys(answers).length === 0 && !notes.trim()) return;
  const response = await request(
    `/api/interactions/${encodeURIComponent(callId())}/wrapup/draft`, {
      method: "PUT", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ answers, notes }),
    });
  if (!response.ok) {
    byId("call-note").textContent = say("draft.failed", { reason: await reason(response) });
  }
}

async function transfer() {
  const target = transferTo.value.trim();
  if (!target) {
    transferTo.focus();
    return;
  }
  await keepForNext();  // the next operator sees the edits and the answers
  byId("call-note").textContent = say("transfer.sent", { target });
  const response = await request(`/api/live/calls/${encodeURIComponent(callId())}/transfer`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ target }),
  });
  if (!response.ok) {
    byId("call-note").textContent = say("transfer.failed", { reason: await reason(response) });
  }
}

// --- consulting, then transferring or conferencing -------------------------------------------

/**
 * Draw the consultation this operator runs (null: none).
 * @param {{party: string, state: string} | null} consult
 */
function showConsult(consult) {
  const had = desk.consult !== null;
  desk.consult = consult;
  const panel = byId("consult-panel");
  panel.hidden = consult === null;
  const state = consult?.state ?? "";
  buttons.consultComplete.disabled = !["talking", "conference"].includes(state);
  buttons.conference.disabled = state !== "talking";
  buttons.consultCancel.disabled = !["ringing", "talking"].includes(state);
  if (consult) {
    byId("consult-state").textContent = say(`consult.${state}`, { party: consult.party });
  }
  if (had !== (consult !== null) && desk.call) showCall(desk.call);
}

/**
 * What a consultation notice means for this desk: the one consulting, or the one consulted.
 * @param {Record<string, any>} data
 */
function onConsultation(data) {
  const state = String(data.state);
  const party = String(data.party ?? "");
  const operator = String(data.operator ?? "");
  const callId = String(data.call_id ?? "");
  if (operator === config.user && callId === desk.interaction) {
    if (["ringing", "talking", "conference"].includes(state)) {
      showConsult({ party, state });
    } else {
      showConsult(null);
      byId("call-note").textContent = say(`consult.${state}`, { party });
    }
    if (state === "talking") buttons.consultComplete.focus();
    else if (state === "ended" && desk.call && desk.call.state !== "ended") {
      buttons.hangup.focus();  // back with the customer
    }
    return;
  }
  if (party !== config.user) return;
  const remote = String(data.caller ?? "");
  if (state === "transferred") {
    // the customer is this operator's now: their card (with the edits made so far) and the
    // script of their call, whatever call this phone had (a consultation by REFER too)
    desk.consultedBy = "";
    desk.customer = remote;
    desk.interaction = callId;
    void loadCard(remote, callId);
    void loadScript(callId);
    if (desk.call) showCall(desk.call);
  }
  if (["conference", "transferred", "ended"].includes(state)) {
    byId("call-note").textContent = say(`consulted.${state}`, { operator, remote });
  }
}

async function consult() {
  const target = transferTo.value.trim();
  if (!target) {
    transferTo.focus();
    return;
  }
  await keepForNext();  // the consulted operator sees the edits and the answers
  const response = await request(`/api/live/calls/${encodeURIComponent(callId())}/consult`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ target }),
  });
  if (!response.ok) {
    byId("call-note").textContent = say("consult.failed", { reason: await reason(response) });
    return;
  }
  byId("call-note").textContent = "";
  if (!desk.consult) showConsult({ party: target, state: "ringing" });
  buttons.consultCancel.focus();
}

/** @param {"complete" | "conference" | "cancel"} action */
async function consultAction(action) {
  if (action !== "cancel") await keepForNext();
  const base = `/api/live/calls/${encodeURIComponent(callId())}`;
  const response = action === "cancel"
    ? await request(`${base}/consult`, { method: "DELETE" })
    : await request(action === "complete" ? `${base}/consult/complete` : `${base}/conference`,
      { method: "POST" });
  if (!response.ok) {
    byId("call-note").textContent = say("consult.failed", { reason: await reason(response) });
  }
}

async function help() {
  const response = await request(`/api/calls/${encodeURIComponent(callId())}/help`,
    { method: "POST" });
  byId("call-note").textContent = response.ok ? say("help.sent")
    : say("help.failed", { reason: await reason(response) });
}

buttons.ready.addEventListener("click", () => setState("ready"));
buttons.notReady.addEventListener("click", () => setState("not_ready"));
buttons.answer.addEventListener("click", () => phone?.answer(desk.call?.id));
buttons.reject.addEventListener("click", () => phone?.reject(desk.call?.id));
buttons.hangup.addEventListener("click", () => phone?.hangup(desk.call?.id));
buttons.hold.addEventListener("click", () =>
  phone?.hold(buttons.hold.getAttribute("aria-pressed") !== "true", desk.call?.id));
buttons.mute.addEventListener("click", () =>
  phone?.mute(buttons.mute.getAttribute("aria-pressed") !== "true", desk.call?.id));
buttons.keypad.addEventListener("click", () =>
  showKeypad(buttons.keypad.getAttribute("aria-expanded") !== "true"));
buttons.transfer.addEventListener("click", () => transfer());
buttons.help.addEventListener("click", () => help());
buttons.consult.addEventListener("click", () => consult());
buttons.consultComplete.addEventListener("click", () => consultAction("complete"));
buttons.conference.addEventListener("click", () => consultAction("conference"));
buttons.consultCancel.addEventListener("click", () => consultAction("cancel"));
buttons.shortcuts.addEventListener("click", () => shortcuts.showModal());
shortcuts.addEventListener("close", () => buttons.shortcuts.focus());
for (const key of document.querySelectorAll("#keypad button.key")) {
  key.addEventListener("click", () => {
    if (phone && desk.call) phone.sendDtmf(key.getAttribute("data-key") ?? "", desk.call.id);
  });
}
transferTo.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !buttons.transfer.disabled) transfer();
});
element("sign-out-form", HTMLFormElement).addEventListener("submit", () => {
  desk.signedOut = true;
  phone?.stop();
});

// --- the dialog script and closing the call ---------------------------------------------------

const scriptRegion = byId("script");

/**
 * Draw the script of the call's queue or campaign (server-rendered, with the Result select and
 * "Save and close") in the Script region.
 * @param {string} interaction
 */
async function loadScript(interaction) {
  if (!interaction) return;
  let response = null;
  // the call's record names its operator a moment after the answer: ask again briefly
  for (let tries = 0; tries < 20; tries += 1) {
    response = await request(`/desk/script/${encodeURIComponent(interaction)}`);
    if (response.status !== 404 || interaction !== desk.interaction) break;
    await new Promise((resolve) => { window.setTimeout(resolve, 500); });
  }
  if (!response?.ok || interaction !== desk.interaction) return;
  scriptRegion.innerHTML = await response.text();
  const form = scriptRegion.querySelector("form#script-form");
  desk.script = form instanceof HTMLFormElement ? new ScriptForm(form) : null;
}

// The wrap-up is saved (which ends the after-call work on the server: the operator goes on
// as chosen before, Ready unless Not ready was picked during the call): the card's edits go
// with it, and focus goes back to the state bar.
scriptRegion.addEventListener("script:saved", () => {
  if (desk.cardDirty) saveCard();
  buttons.ready.focus();
});

// For the regions joined beside the card (the script, the wrap-up): each change of the call
// is told as a "desk:call" event on the document, and a "desk:save-card" event asks the
// card to save what is unsaved (before closing the call, for example).
document.addEventListener("desk:save-card", () => {
  if (desk.cardDirty) saveCard();
});

// --- hotkeys ---------------------------------------------------------------------------------

/** @type {Record<string, () => void>} */
const hotkeys = {
  r: () => buttons.ready.click(),
  n: () => buttons.notReady.click(),
  a: () => buttons.answer.click(),
  j: () => buttons.reject.click(),
  o: () => buttons.hold.click(),
  m: () => buttons.mute.click(),
  k: () => buttons.keypad.click(),
  h: () => buttons.hangup.click(),
  t: () => { if (!buttons.transfer.disabled) transferTo.focus(); },
  e: () => buttons.help.click(),
  u: () => { if (!buttons.consult.disabled) consult(); },
  g: () => buttons.consultComplete.click(),
  f: () => buttons.conference.click(),
  z: () => buttons.consultCancel.click(),
  c: () => document.getElementById("card-name")?.focus(),
  s: () => { saveCard(); },
  x: () => buttons.signOut.click(),
  d: () => document.getElementById("preview-dial")?.click(),
  i: () => document.getElementById("preview-skip")?.click(),
  l: () => document.getElementById("preview-at")?.focus(),
};

document.addEventListener("keydown", (event) => {
  if (desk.signedOut) return;
  if (event.altKey && !event.ctrlKey && !event.metaKey) {
    const action = hotkeys[event.key.toLowerCase()] ?? hotkeys[event.code.replace("Key", "")
      .toLowerCase()];
    if (action) {
      event.preventDefault();
      action();
    }
    return;
  }
  const target = event.target;
  const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement
    || target instanceof HTMLSelectElement;
  if (event.key === "?" && !typing && !shortcuts.open) {
    event.preventDefault();
    shortcuts.showModal();
  }
});

// --- start -----------------------------------------------------------------------------------

// A closed tab hangs up its calls and unregisters.
window.addEventListener("pagehide", () => phone?.stop());
window.setInterval(tick, 1000);
window.setInterval(refreshQueues, 2000);
window.setInterval(refreshVoicemail, 30000);
window.setInterval(refreshPresence, 5000);
showState();
byId("call-status").textContent = say("call.none");
connectEvents();
refreshQueues();
refreshToday();
refreshVoicemail();
loadPeople();
startPhone().catch((error) => { byId("phone-state").textContent = String(error); });
