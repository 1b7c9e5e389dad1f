// What every script of the desk page shares: finding its elements, the strings the server
// translated for it (the #desk-config document), and the session's CSRF token.

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
