// The /phone page: sign in, then a dial pad over the Softphone module.
import { Softphone } from "./softphone.js";

/** @typedef {import("./softphone.js").CallDetail} CallDetail */
/** @typedef {import("./softphone.js").RegistrationDetail} RegistrationDetail */
/** @typedef {import("./softphone.js").Credentials} Credentials */

/** @type {Record<string, string>} */
const messages = JSON.parse(byId("phone-messages").textContent ?? "{}");

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing`);
  return element;
}

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

/**
 * A message of the catalog with {placeholders} filled.
 * @param {string} key
 * @param {Record<string, string>} [values]
 */
function say(key, values = {}) {
  return (messages[key] ?? key).replace(/\{(\w+)\}/g, (_all, name) => values[name] ?? "");
}

/** @returns {string} the CSRF token of the session (the cookie the server set at login) */
function csrfToken() {
  const found = document.cookie.split("; ").find((part) => part.startsWith("parley_csrf="));
  return found ? decodeURIComponent(found.slice("parley_csrf=".length)) : "";
}

/** @returns {Promise<Credentials>} */
async function credentials() {
  const response = await fetch("/api/phone/credentials", {
    method: "POST", headers: { "X-CSRF-Token": csrfToken() }, credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`credentials: ${response.status}`);
  return /** @type {Credentials} */ (await response.json());
}

const status = byId("status");
const signIn = element("sign-in", HTMLFormElement);
const phonePanel = byId("phone");
const number = element("number", HTMLInputElement);
const transferTo = element("transfer-to", HTMLInputElement);
const buttons = {
  call: element("call", HTMLButtonElement),
  answer: element("answer", HTMLButtonElement),
  reject: element("reject", HTMLButtonElement),
  hangup: element("hangup", HTMLButtonElement),
  mute: element("mute", HTMLButtonElement),
  hold: element("hold", HTMLButtonElement),
  transfer: element("transfer", HTMLButtonElement),
};

/** @type {Softphone | null} */
let phone = null;
/** @type {CallDetail | null} */
let current = null;

/** @param {CallDetail | null} call */
function showCall(call) {
  const live = call !== null && call.state !== "ended";
  const ringing = live && call.state === "ringing" && call.direction === "incoming";
  const talking = live && (call.state === "talking" || call.state === "held");
  buttons.call.disabled = live;
  buttons.answer.disabled = !ringing;
  buttons.reject.disabled = !ringing;
  buttons.hangup.disabled = !live || ringing;
  buttons.mute.disabled = !talking;
  buttons.hold.disabled = !talking;
  buttons.transfer.disabled = !talking;
  buttons.mute.setAttribute("aria-pressed", String(talking && call.muted));
  buttons.hold.setAttribute("aria-pressed", String(talking && call.state === "held"));
  if (call) {
    status.textContent = say(`state.${call.state}`,
      { remote: call.remote, cause: call.cause ?? "" });
    status.dataset.state = call.state;
  }
  if (ringing) buttons.answer.focus();
}

async function startPhone() {
  const jssipUrl = document.querySelector("script[data-jssip]")?.getAttribute("data-jssip");
  if (!jssipUrl) throw new Error("the page does not say where JsSIP is");
  /** @type {typeof import("jssip")} */
  const JsSIP = (await import(jssipUrl)).default;
  const audio = element("remote-audio", HTMLAudioElement);
  phone = new Softphone({ JsSIP, credentials, audio });
  phone.addEventListener("registration", (event) => {
    const detail = /** @type {CustomEvent<RegistrationDetail>} */ (event).detail;
    if (current && current.state !== "ended") return; // the call's state matters more
    status.textContent = say(`state.${detail.state}`, { cause: detail.cause ?? "" });
    status.dataset.state = detail.state;
  });
  phone.addEventListener("call", (event) => {
    current = /** @type {CustomEvent<CallDetail>} */ (event).detail;
    showCall(current);
  });
  await phone.start();
  const who = byId("who");
  who.textContent = (who.dataset.template ?? "")
    .replace("{user}", phone.given?.username ?? "")
    .replace("{extension}", phone.given?.user ?? "");
  if (!window.isSecureContext) status.textContent = say("state.no_microphone");
}

signIn.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(signIn);
  const response = await fetch("/api/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: data.get("username"), password: data.get("password") }),
  });
  const error = byId("sign-in-error");
  if (!response.ok) {
    error.hidden = false;
    element("password", HTMLInputElement).focus();
    return;
  }
  error.hidden = true;
  signIn.hidden = true;
  phonePanel.hidden = false;
  number.focus();
  await startPhone();
});

for (const key of document.querySelectorAll("button.key")) {
  key.addEventListener("click", () => {
    const digit = key.getAttribute("data-key") ?? "";
    if (phone && current && (current.state === "talking" || current.state === "held")) {
      phone.sendDtmf(digit, current.id);
    } else {
      number.value += digit;
    }
  });
}

number.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !buttons.call.disabled) buttons.call.click();
});
buttons.call.addEventListener("click", () => {
  if (phone && number.value) phone.call(number.value);
});
buttons.answer.addEventListener("click", () => phone?.answer(current?.id));
buttons.reject.addEventListener("click", () => phone?.reject(current?.id));
buttons.hangup.addEventListener("click", () => phone?.hangup(current?.id));
buttons.mute.addEventListener("click", () =>
  phone?.mute(buttons.mute.getAttribute("aria-pressed") !== "true", current?.id));
buttons.hold.addEventListener("click", () =>
  phone?.hold(buttons.hold.getAttribute("aria-pressed") !== "true", current?.id));
buttons.transfer.addEventListener("click", () => {
  if (transferTo.value) phone?.transfer(transferTo.value, current?.id);
});
byId("sign-out").addEventListener("click", async () => {
  phone?.stop();
  await fetch("/api/auth/logout", { method: "POST", headers: { "X-CSRF-Token": csrfToken() } });
  window.location.reload();
});

// A closed tab hangs up its calls and unregisters (the browser may not get to send it all:
// the server then ends the call when the WebRTC consent lapses).
window.addEventListener("pagehide", () => phone?.stop());

if (!phonePanel.hidden) {
  startPhone().catch((error) => { status.textContent = String(error); });
}
