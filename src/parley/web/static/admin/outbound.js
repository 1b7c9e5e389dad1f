// The admin pages for calling out: trunks, routes and campaigns. Their forms are saved by
// admin.js; this adds what it sends them as the API takes them (empty rule rows and trunk
// slots left out), the routes page's "which trunk would dial this" check, and a campaign's
// start / pause / stop buttons with its counters kept current.

import { say } from "../desk/page.js";
import { TIDY, api, fieldErrors } from "./admin.js";

/** @typedef {Record<string, any>} Json */

/**
 * Caller-ID rule rows without the empty ones.
 * @param {Json} record
 */
function keepRules(record) {
  record.caller_id_rules = (record.caller_id_rules ?? []).filter(
    (/** @type {Json} */ rule) => rule && (rule.match || rule.replace));
}

TIDY.trunks = (record) => {
  keepRules(record);
  delete record.auth; // the older name of kind: sent both, a changed kind would disagree
  if (record.password === null) delete record.password; // left empty: the stored one stays
  return record;
};
TIDY.routes = (record) => {
  keepRules(record);
  record.trunks = (record.trunks ?? []).filter(Boolean);
  return record;
};
TIDY.campaigns = (record) => {
  delete record.state;
  /** @param {any} windows */
  const one = (windows) => Array.isArray(windows) && windows.length === 1 ? windows[0] : windows;
  const general = record.call_window;
  /** @type {Record<string, string[]>} */
  const byType = record.call_window_by ?? {};
  delete record.call_window_by;
  const kinds = Object.keys(byType);
  record.call_window = kinds.some((kind) => byType[kind].length)
    ? Object.fromEntries(kinds.map((kind) => [kind, one(byType[kind].length ? byType[kind] : general)]))
    : one(general);
  record.retry = Object.fromEntries(Object.entries(record.retry ?? {})
    .filter(([, delay]) => delay !== null && delay !== ""));
  const cap = record.abandon?.cap;
  if (typeof cap === "string" && /^\d*\.?\d+$/.test(cap)) record.abandon.cap = Number(cap);
  return record;
};

/** The routes page: ask the route engine which route and trunks would dial a number. */
function routeCheck() {
  const form = document.querySelector("form.route-check");
  if (!(form instanceof HTMLFormElement)) return;
  const input = /** @type {HTMLInputElement} */ (form.querySelector("input"));
  const line = /** @type {HTMLElement} */ (form.querySelector(".form-status"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const number = input.value.trim();
    if (!number) { line.textContent = say("check.none"); return; }
    const found = await api("GET", `/api/routes/check?number=${encodeURIComponent(number)}`);
    if (!found.ok) {
      const reason = fieldErrors(found.data?.detail).map((error) => error.message).join(" ");
      line.textContent = say("check.refused", { reason });
      return;
    }
    const trunks = found.data.attempts.map((/** @type {Json} */ attempt) => {
      const shown = say("check.trunk", { trunk: attempt.trunk, number: attempt.number,
        caller_id: attempt.restricted ? say("check.restricted") : attempt.caller_id });
      return attempt.available === false ? `${shown} ${say("check.down")}` : shown;
    }).join("; ");
    line.textContent = say("check.route", { route: found.data.route, kind: found.data.kind, trunks });
  });
}

/** A campaign's page: start, pause, stop, and its counters read again every few seconds. */
function campaignLive() {
  const section = document.querySelector("section.campaign-live");
  if (!(section instanceof HTMLElement)) return;
  const name = section.dataset.campaign ?? "";
  const url = `/api/campaigns/${encodeURIComponent(name)}`;
  const line = /** @type {HTMLElement} */ (section.querySelector(".control-status"));
  /** @param {string} key @param {string} text */
  const show = (key, text) => {
    const cell = section.querySelector(`[data-live="${key}"]`);
    if (cell && cell.textContent !== text) cell.textContent = text;
  };
  const refresh = async () => {
    const found = await api("GET", url);
    if (!found.ok) return;
    const state = found.data.state;
    show("status", say(`status.${state.status}`));
    for (const key of ["pending", "in_progress", "done"]) show(key, String(state.contacts[key] ?? 0));
    const live = state.live;
    for (const key of ["dialled", "live_answers", "abandoned"]) show(key, live ? String(live[key]) : "—");
    show("abandon_rate", live ? `${(live.abandon_rate * 100).toFixed(1)} %` : "—");
  };
  for (const button of section.querySelectorAll("button[data-control]")) {
    button.addEventListener("click", async () => {
      const action = /** @type {HTMLElement} */ (button).dataset.control;
      const done = await api("POST", `${url}/${action}`);
      if (!done.ok) {
        const reason = fieldErrors(done.data?.detail).map((error) => error.message).join(" ");
        line.textContent = say("control.failed", { reason });
        return;
      }
      const status = say(`status.${done.data.status}`);
      line.textContent = say(done.data.dialer === "notified" ? "control.done" : "control.stored", { status });
      await refresh();
    });
  }
  document.addEventListener("imported", () => void refresh());
  window.setInterval(() => void refresh(), 5000);
}

/** A do-not-call list's opt-outs: add some, lift one; the page then shows the list again. */
function optOuts() {
  const section = document.querySelector("section.opt-outs");
  if (!(section instanceof HTMLElement)) return;
  const url = `/api/do_not_call/${encodeURIComponent(section.dataset.list ?? "")}/opt_outs`;
  const add = /** @type {HTMLFormElement} */ (section.querySelector("form.optout-add"));
  const lift = /** @type {HTMLFormElement} */ (section.querySelector("form.optout-lift"));
  /** @param {HTMLFormElement} form @param {string} text */
  const tell = (form, text) => {
    const line = form.querySelector(".form-status");
    if (line) line.textContent = text;
  };
  /** @param {any} answer */
  const reason = (answer) => fieldErrors(answer.data?.detail ?? answer.data)
    .map((error) => error.field ? `${error.field}: ${error.message}` : error.message).join(" ");
  add.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = /** @type {HTMLTextAreaElement} */ (add.querySelector("textarea"));
    const numbers = box.value.split("\n").map((line) => line.replace(/[\s().-]/g, "")).filter(Boolean);
    if (numbers.length === 0) { tell(add, say("optout.none")); return; }
    const done = await api("POST", url, { numbers });
    if (!done.ok) { tell(add, say("optout.failed", { reason: reason(done) })); return; }
    window.location.assign(`${window.location.pathname}?added=${done.data.added}`);
  });
  lift.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = /** @type {HTMLInputElement} */ (lift.querySelector("input"));
    const number = box.value.replace(/[\s().-]/g, "");
    if (!number) { tell(lift, say("optout.none")); return; }
    const done = await api("DELETE", `${url}/${encodeURIComponent(number)}`);
    if (!done.ok) { tell(lift, say("optout.failed", { reason: reason(done) })); return; }
    window.location.assign(`${window.location.pathname}?lifted=${encodeURIComponent(number)}`);
  });
  const query = new URLSearchParams(window.location.search);
  const added = query.get("added");
  const lifted = query.get("lifted");
  if (added !== null) tell(add, say("optout.added", { added }));
  if (lifted !== null) tell(lift, say("optout.lifted", { number: lifted }));
}

routeCheck();
campaignLive();
optOuts();
