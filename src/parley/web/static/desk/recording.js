// Pause recording / Resume recording on the desk: while a customer reads out card details the
// operator pauses the call's recording (the server writes silence into the file, marks the
// gap and audits it) and resumes it after. The button and the "Recording paused" notice
// follow the desk's call ("desk:call" events from desk.js) and the live events ("desk:event":
// a supervisor may pause or resume too); the server decides whether the call is recorded.
// On calls of a queue that records on demand (recording: on_demand) the Record button
// starts the recording (PUT /api/live/calls/{id}/recording); "Recording" then shows.

import { byId, csrfToken, recordingPolicy, say } from "./page.js";

const button = byId("recording-pause");
const record = byId("recording-start");
const notice = byId("recording-state");
const onAir = byId("recording-on");
const note = byId("call-note");

const recording = {
  /** the interaction of the desk's call ("" when there is none) */
  interaction: "",
  /** its queue's recording policy */
  policy: "",
  talking: false,
  /** whether the server records the call (known after the answer) */
  on: false,
  paused: false,
  busy: false,
};

/**
 * @param {HTMLElement} control
 * @param {boolean} disabled
 */
function disable(control, disabled) {
  if (!(control instanceof HTMLButtonElement)) return;
  const wasFocused = document.activeElement === control;
  control.disabled = disabled;
  if (wasFocused && disabled) {
    // focus is never lost: Hang up during the call, Ready after it
    (recording.talking ? document.getElementById("hangup")
      : document.getElementById("ready"))?.focus();
  }
}

function draw() {
  button.textContent = say(recording.paused ? "recording.resume" : "recording.pause");
  notice.hidden = !(recording.talking && recording.paused);
  onAir.hidden = !(recording.talking && recording.on && !recording.paused);
  document.body.dataset.recording = !recording.talking ? ""
    : recording.paused ? "paused" : recording.on ? "on" : "";
  // offered only where the operator decides: never on a queue that records every call
  record.hidden = recording.policy !== "on_demand";
  disable(record, !recording.talking || recording.on || recording.busy);
  disable(button, !recording.talking || recording.busy);
}

/** What the server says of the call's recording now (after the answer, or a reconnect). */
async function refresh() {
  const interaction = recording.interaction;
  if (!interaction) return;
  const response = await fetch("/api/live/calls", { credentials: "same-origin" });
  if (!response.ok || interaction !== recording.interaction) return;
  /** @type {{id: string, recording_id?: string | null, recording_paused?: boolean}[]} */
  const calls = await response.json();
  const found = calls.find((call) => call.id === interaction);
  if (found) {
    recording.on = Boolean(found.recording_id);
    recording.paused = Boolean(found.recording_paused);
    draw();
  }
}

/** Start recording the call (a queue that records on demand). */
async function start() {
  if (!recording.talking || recording.busy || recording.on || !recording.interaction) return;
  recording.busy = true;
  draw();
  try {
    const response = await fetch(
      `/api/live/calls/${encodeURIComponent(recording.interaction)}/recording`,
      { method: "PUT", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/json" },
        body: JSON.stringify({ recording: true }) });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (response.ok && body) {
      recording.on = Boolean(body.recording);
      note.textContent = say("recording.started");
    } else {
      const detail = body && typeof body.detail === "string" ? body.detail : response.statusText;
      note.textContent = say("recording.failed", { reason: detail });
    }
  } finally {
    recording.busy = false;
    draw();
    if (recording.talking) button.focus();  // the next thing to do: pause it, if need be
  }
}

async function toggle() {
  if (!recording.talking || recording.busy || !recording.interaction) return;
  const action = recording.paused ? "resume" : "pause";
  recording.busy = true;
  draw();
  try {
    const response = await fetch(
      `/api/live/calls/${encodeURIComponent(recording.interaction)}/recording/${action}`,
      { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (response.ok && body) {
      recording.paused = Boolean(body.paused);
      note.textContent = say(recording.paused ? "recording.paused" : "recording.resumed");
    } else {
      const detail = body && typeof body.detail === "string" ? body.detail : response.statusText;
      note.textContent = say("recording.failed", { reason: detail });
    }
  } finally {
    recording.busy = false;
    draw();
    if (recording.talking) button.focus();
  }
}

document.addEventListener("desk:call", (event) => {
  const detail = /** @type {CustomEvent<{state: string, interaction: string, queue?: string}>} */
    (event).detail;
  const talking = detail.state === "talking" || detail.state === "held";
  const fresh = detail.interaction !== recording.interaction;
  if (fresh || detail.state === "ended") {
    recording.paused = false;
    recording.on = false;
  }
  if (fresh && note.textContent === say("recording.started")) note.textContent = "";
  recording.interaction = detail.state === "ended" ? "" : detail.interaction;
  recording.policy = detail.state === "ended" ? "" : recordingPolicy(detail.queue ?? "");
  const answered = talking && !recording.talking;
  recording.talking = talking;
  draw();
  if (answered) void refresh();
});

document.addEventListener("desk:event", (event) => {
  /** @type {{type: string, data?: Record<string, any>}} */
  const live = /** @type {CustomEvent} */ (event).detail;
  if (live.type === "subscribed") {
    void refresh();  // what changed while the stream was away
  } else if (live.type === "RecordingPauseChanged"
      && live.data?.interaction_id === recording.interaction) {
    recording.paused = Boolean(live.data?.paused);
    draw();
  }
});

button.addEventListener("click", () => { void toggle(); });
record.addEventListener("click", () => { void start(); });

document.addEventListener("keydown", (event) => {
  if (event.altKey && !event.ctrlKey && !event.metaKey
      && (event.key.toLowerCase() === "p" || event.code === "KeyP")) {
    event.preventDefault();
    if (button instanceof HTMLButtonElement && !button.disabled) button.click();
  } else if (event.altKey && !event.ctrlKey && !event.metaKey
      && (event.key.toLowerCase() === "b" || event.code === "KeyB")) {
    event.preventDefault();
    if (record instanceof HTMLButtonElement && !record.disabled && !record.hidden) record.click();
  }
});

draw();
