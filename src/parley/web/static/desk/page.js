// What every script of the desk page shares: finding its elements, the strings the server
// translated for it (the #desk-config document), the session's CSRF token and requests that
// carry it (the supervisor console, the wallboard and the admin pages use it too).

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing`);
  return found;
}

/**
 * What the server wrote into the page for its scripts.
 * @type {{strings: Record<string, string>, recording?: Record<string, string>}}
 */
const page = JSON.parse(byId("desk-config").textContent ?? "{}");

/**
 * A queue's recording policy ("all", "none", "on_demand"; "" for a call of no queue).
 * @param {string} queue
 */
export function recordingPolicy(queue) {
  return page.recording?.[queue] ?? "";
}

/**
 * A string of the page's language with {placeholders} filled.
 * @param {string} key
 * @param {Record<string, string>} [values]
 */
export function say(key, values = {}) {
  return (page.strings[key] ?? key).replace(/\{(\w+)\}/g, (_all, name) => values[name] ?? "");
}

/** @returns {string} the session's CSRF token (the cookie set at sign-in) */
export function csrfToken() {
  const found = document.cookie.split("; ").find((part) => part.startsWith("parley_csrf="));
  return found ? decodeURIComponent(found.slice("parley_csrf=".length)) : "";
}

/**
 * A same-origin request carrying the CSRF token.
 * @param {string} url
 * @param {RequestInit} [init]
 */
export function request(url, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("X-CSRF-Token", csrfToken());
  return fetch(url, { ...init, headers, credentials: "same-origin" });
}

/**
 * Why a request failed, as the API says it.
 * @param {Response} response
 */
export async function reason(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : response.statusText;
  } catch {
    return response.statusText;
  }
}
