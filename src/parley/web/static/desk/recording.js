// Pause recording / Resume recording on the desk: while a customer reads out card details the
// operator pauses the call's recording (the server writes silence into the file, marks the
// gap and audits it) and resumes it after. The button and the "Recording paused" notice
// follow the desk's call ("desk:call" events from desk.js) and the live events ("desk:event":
// a supervisor may pause or resume too); the server decides whether the call is recorded.

import { byId, csrfToken, say } from "./page.js";

const button = byId("recording-pause");
const notice = byId("recording-state");
const note = byId("call-note");

const recording = {
  /** the interaction of the desk's call ("" when there is none) */
  interaction: "",
  talking: false,
  paused: false,
  busy: false,
};

function draw() {
  button.textContent = say(recording.paused ? "recording.resume" : "recording.pause");
  notice.hidden = !(recording.talking && recording.paused);
  document.body.dataset.recording = recording.talking && recording.paused ? "paused" : "";
  const wasFocused = document.activeElement === button;
  if (button instanceof HTMLButtonElement) {
    button.disabled = !recording.talking || recording.busy;
    if (wasFocused && button.disabled && !recording.talking) {
      document.getElementById("ready")?.focus();  // focus is never lost
    }
  }
}

/** What the server says of the call's recording now (after the answer, or a reconnect). */
async function refresh() {
  const interaction = recording.interaction;
  if (!interaction) return;
  const response = await fetch("/api/live/calls", { credentials: "same-origin" });
  if (!response.ok || interaction !== recording.interaction) return;
  /** @type {{id: string, recording_paused?: boolean}[]} */
  const calls = await response.json();
  const found = calls.find((call) => call.id === interaction);
  if (found) {
    recording.paused = Boolean(found.recording_paused);
    draw();
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
  const detail = /** @type {CustomEvent<{state: string, interaction: string}>} */ (event).detail;
  const talking = detail.state === "talking" || detail.state === "held";
  const fresh = detail.interaction !== recording.interaction;
  if (fresh || detail.state === "ended") recording.paused = false;
  recording.interaction = detail.state === "ended" ? "" : detail.interaction;
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

document.addEventListener("keydown", (event) => {
  if (event.altKey && !event.ctrlKey && !event.metaKey
      && (event.key.toLowerCase() === "p" || event.code === "KeyP")) {
    event.preventDefault();
    if (button instanceof HTMLButtonElement && !button.disabled) button.click();
  }
});

draw();
