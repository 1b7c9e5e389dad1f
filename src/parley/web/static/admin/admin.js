// The admin pages: each form is turned into the record the configuration API takes and sent
// there; the API's errors are put next to the field they name. The record as stored (the
// #record document) is the base, so fields this page does not show are kept as they are.

import { say, csrfToken } from "../desk/page.js";

/** @typedef {Record<string, any>} Json */
/**
 * An error for one field; ``named``: the message names its place itself (a scorecard's
 * criterion and key, a script's block and field), so it is shown as it is.
 * @typedef {{field: string, message: string, named?: boolean}} FieldError
 */

/**
 * Send JSON (or CSV text) to the API with the session's CSRF token.
 * @param {string} method
 * @param {string} url
 * @param {unknown} [body]
 * @param {string} [type]
 */
export async function api(method, url, body, type = "application/json") {
  /** @type {RequestInit} */
  const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } };
  if (body !== undefined) {
    init.body = typeof body === "string" && type !== "application/json" ? body : JSON.stringify(body);
    /** @type {Record<string, string>} */ (init.headers)["Content-Type"] = type;
  }
  const response = await fetch(url, init);
  const text = await response.text();
  /** @type {any} */
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  return { ok: response.ok, status: response.status, data };
}

/**
 * Put ``value`` at a dotted path ("hours.mon", "overflow.0.when") of ``target``.
 * @param {Json} target
 * @param {string} path
 * @param {unknown} value
 */
function setPath(target, path, value) {
  const parts = path.split(".");
  /** @type {any} */
  let here = target;
  parts.slice(0, -1).forEach((part, index) => {
    const nextIsIndex = /^\d+$/.test(parts[index + 1]);
    if (here[part] === undefined || here[part] === null) here[part] = nextIsIndex ? [] : {};
    here = here[part];
  });
  here[parts[parts.length - 1]] = value;
}

/**
 * The value a control holds, as the API takes it.
 * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} control
 */
function valueOf(control) {
  const raw = control.value.trim();
  switch (control.dataset.type) {
    case "opt": return raw === "" ? null : raw;
    case "int": return raw === "" ? null : (/^-?\d+$/.test(raw) ? Number(raw) : raw);
    case "bool": return /** @type {HTMLInputElement} */ (control).checked;
    case "lines": return raw.split("\n").map((line) => line.trim()).filter(Boolean);
    case "words": return raw.split(/[,;\s]+/).filter(Boolean);
    case "json": try { return JSON.parse(raw || "null"); } catch { return raw; }
    default: return raw;
  }
}

/**
 * The record a form describes: the stored one with every shown field replaced.
 * @param {HTMLFormElement} form
 * @param {Json} base
 * @returns {Json}
 */
function collect(form, base) {
  /** @type {Json} */
  const record = structuredClone(base);
  /** @type {NodeListOf<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>} */
  const controls = form.querySelectorAll("[data-json]");
  for (const control of controls) {
    const path = control.dataset.json ?? "";
    if (control.dataset.type === "check" || control.dataset.type === "level") {
      setPath(record, path, control.dataset.type === "check" ? [] : {});
    }
  }
  for (const control of controls) {
    const path = control.dataset.json ?? "";
    if (control.dataset.type === "check") {
      if (/** @type {HTMLInputElement} */ (control).checked) {
        /** @type {string[]} */ (path.split(".").reduce((/** @type {any} */ at, part) => at[part],
          record)).push(control.value);
      }
    } else if (control.dataset.type === "level") {
      const level = control.value.trim();
      if (level !== "") {
        setPath(record, `${path}.${control.dataset.key}`, /^\d+$/.test(level) ? Number(level) : level);
      }
    } else {
      setPath(record, path, valueOf(control));
    }
  }
  const tidy = TIDY[form.dataset.kind ?? ""];
  return tidy ? tidy(record) : record;
}

/** @type {Record<string, (record: Json) => Json>} */
export const TIDY = {
  users(record) {
    for (const name of ["password_hash"]) delete record[name];
    return record;
  },
  queues(record) {
    record.overflow = (record.overflow ?? []).filter((/** @type {Json} */ rule) => rule && rule.when);
    record.relax = (record.relax ?? []).filter(
      (/** @type {Json} */ step) => step && (step.after_s !== null || step.min_level !== null));
    const hours = record.hours ?? {};
    for (const day of ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]) {
      if (!hours[day] || hours[day].length === 0) delete hours[day];
    }
    if (!hours.holidays || hours.holidays.length === 0) delete hours.holidays;
    if (!hours.timezone) delete hours.timezone;
    const days = Object.keys(hours).filter((key) => key !== "timezone");
    record.hours = days.length ? hours : null;
    return record;
  },
};

/**
 * The API's refusal as messages per field: FastAPI's list of errors (``loc`` names the
 * field), or one text that starts with the field it names ("teams: no team named 'x'").
 * @param {any} detail
 * @returns {FieldError[]}
 */
export function fieldErrors(detail) {
  /** @param {string} text */
  const fromText = (text) => {
    // a campaign's own checks name the campaign first ("campaign 'spring': queue: …")
    const cleaned = text.replace(/^Value error, /, "").replace(/^campaign '[^']*': /, "");
    const found = /^([a-z_]+(?:\[\d+\])?(?:\.[a-z_0-9]+)*(?:\[\d+\])?): (.*)$/s.exec(cleaned);
    return found ? { field: found[1].replace(/\[(\d+)\]/g, ".$1"), message: found[2] }
      : { field: "", message: cleaned };
  };
  if (Array.isArray(detail)) {
    return detail.map((/** @type {Json} */ error) => {
      const loc = (error.loc ?? []).slice(1).map(String);
      const message = String(error.msg ?? "");
      // a script's or a scorecard's error names its block and field (its criterion and
      // key) itself, and carries the path to them ("criteria.2.weight")
      const path = error.ctx?.error?.path;
      if (loc.length === 0 && Array.isArray(path) && path.length) {
        // (the page is that scorecard's: its name is left out, the criterion's kept)
        const text = message.replace(/^Value error, /, "").replace(/^scorecard '[^']*' /, "");
        return { field: path.map(String).join("."), message: text, named: true };
      }
      if (loc.length === 0) return fromText(message);
      return { field: loc.join("."), message: message.replace(/^Value error, /, "") };
    });
  }
  return [fromText(typeof detail === "string" ? detail : JSON.stringify(detail))];
}

/**
 * Clear the form's error messages.
 * @param {HTMLFormElement} form
 */
export function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error]")) {
    slot.textContent = "";
    slot.setAttribute("hidden", "");
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  const list = form.querySelector(".form-errors");
  if (list) { list.replaceChildren(); list.setAttribute("hidden", ""); }
}

/**
 * Show each error beside its field (the nearest field named by the error's path), the rest
 * in the form's list; focus the first field at fault (unless the admin is still typing).
 * @param {HTMLFormElement} form
 * @param {FieldError[]} errors
 * @param {boolean} [focus]
 */
export function showErrors(form, errors, focus = true) {
  /** @type {HTMLElement | null} */
  let first = null;
  const list = form.querySelector(".form-errors");
  for (const error of errors) {
    const parts = error.field.split(".");
    /** @type {HTMLElement | null} */
    let slot = null;
    let shown = error.message;
    for (let size = parts.length; size > 0 && !slot; size -= 1) {
      slot = form.querySelector(`[data-error="${CSS.escape(parts.slice(0, size).join("."))}"]`);
      if (slot && size < parts.length && !error.named) shown = `${parts.slice(size).join(".")}: ${error.message}`;
    }
    if (!slot || !error.field) {
      if (list) {
        const item = document.createElement("li");
        item.textContent = error.field && !error.named ? `${error.field}: ${error.message}` : error.message;
        list.append(item);
        list.removeAttribute("hidden");
      }
      continue;
    }
    slot.textContent = slot.textContent ? `${slot.textContent} ${shown}` : shown;
    slot.removeAttribute("hidden");
    const holder = slot.closest(".field, .device, fieldset") ?? slot.parentElement;
    const control = holder?.querySelector("input:not([type=hidden]), select, textarea");
    if (control instanceof HTMLElement) {
      control.setAttribute("aria-invalid", "true");
      first ??= control;
    }
  }
  if (focus) first?.focus();
}

/**
 * Write the form's outcome in its status line.
 * @param {HTMLFormElement} form
 * @param {string} text
 */
export function status(form, text) {
  const line = form.querySelector(".form-status");
  if (line) line.textContent = text;
}

/**
 * Save a user's devices and queue memberships after the user: each device with a new SIP
 * password (or a new device) is written with the user as its owner, each queue whose box
 * changed gets the user added to or removed from its members.
 * @param {HTMLFormElement} form
 * @param {string} username
 * @returns {Promise<FieldError[]>}
 */
async function saveUserExtras(form, username) {
  /** @type {FieldError[]} */
  const errors = [];
  for (const row of form.querySelectorAll("[data-device]")) {
    const existing = /** @type {HTMLElement} */ (row).dataset.device ?? "";
    const nameBox = row.querySelector("[data-device-name]");
    const name = existing || (nameBox instanceof HTMLInputElement ? nameBox.value.trim() : "");
    const passwordBox = row.querySelector("[data-device-password]");
    const password = passwordBox instanceof HTMLInputElement ? passwordBox.value : "";
    if (!name && !password) continue;
    const field = `device:${existing}`;
    if (!name) { errors.push({ field, message: say("device.name") }); continue; }
    const found = await api("GET", `/api/devices/${encodeURIComponent(name)}`);
    if (found.ok && found.data.user && found.data.user !== username) {
      errors.push({ field, message: say("device.taken", { user: found.data.user }) });
      continue;
    }
    /** @type {Json} */
    const device = found.ok ? found.data : { name };
    device.user = username;
    if (password) device.sip_password = password;
    const saved = await api("PUT", `/api/devices/${encodeURIComponent(name)}`, device);
    if (!saved.ok) {
      for (const error of fieldErrors(saved.data?.detail)) {
        errors.push({ field, message: error.field ? `${error.field}: ${error.message}` : error.message });
      }
    }
  }
  for (const box of form.querySelectorAll("input[data-queue]")) {
    const input = /** @type {HTMLInputElement} */ (box);
    const was = input.dataset.was === "yes";
    if (input.checked === was) continue;
    const url = `/api/queues/${encodeURIComponent(input.dataset.queue ?? "")}`;
    const found = await api("GET", url);
    if (!found.ok) { errors.push({ field: "queues", message: String(found.data?.detail) }); continue; }
    const queue = found.data;
    queue.members = input.checked ? [...queue.members, username]
      : queue.members.filter((/** @type {string} */ member) => member !== username);
    const saved = await api("PUT", url, queue);
    if (saved.ok) input.dataset.was = input.checked ? "yes" : "no";
    else errors.push({ field: "queues", message: `${input.dataset.queue}: ${fieldErrors(saved.data?.detail).map((e) => e.message).join(" ")}` });
  }
  return errors;
}

/**
 * Send a record form to its API route (POST for a new record, PUT for a stored one).
 * @param {HTMLFormElement} form
 */
async function saveRecord(form) {
  clearErrors(form);
  const baseNode = document.getElementById("record");
  const base = baseNode ? JSON.parse(baseNode.textContent ?? "{}") : {};
  const record = collect(form, base);
  const kind = form.dataset.kind ?? "";
  const key = form.dataset.key ?? "";
  status(form, say("saving"));
  const saved = kind === "site"
    ? await api("PUT", "/api/site", record)
    : key
      ? await api("PUT", `/api/${kind}/${encodeURIComponent(key)}`, record)
      : await api("POST", `/api/${kind}`, record);
  if (!saved.ok) {
    const errors = fieldErrors(saved.data?.detail ?? saved.data);
    showErrors(form, errors);
    status(form, saved.status === 422 || errors.some((error) => error.field)
      ? say("not_saved") : say("failed", { reason: errors.map((error) => error.message).join(" ") }));
    return;
  }
  const savedKey = String(saved.data.name ?? saved.data.username ?? saved.data.number ?? "");
  if (kind !== "site") form.dataset.key = savedKey;
  if (form.dataset.after === "user") {
    const username = saved.data.username;
    const errors = await saveUserExtras(form, username);
    if (errors.length) {
      showErrors(form, errors);
      status(form, say("not_saved"));
      return;
    }
  }
  if (baseNode) baseNode.textContent = JSON.stringify(saved.data);
  const after = form.dataset.next;
  if (after) {
    window.location.assign(`${after}?saved=1`);
    return;
  }
  if (form.dataset.page) { // the page again, as stored (a new record at its own address)
    window.location.assign(`${form.dataset.page}/${encodeURIComponent(savedKey)}?saved=1`);
    return;
  }
  for (const box of form.querySelectorAll("input[type=password]")) /** @type {HTMLInputElement} */ (box).value = "";
  status(form, say("saved"));
}

/**
 * After numbers were imported into a list, show the list as stored in its form (and make it
 * the form's base), so that saving the form afterwards keeps the imported numbers.
 * @param {string} name
 */
async function showListed(name) {
  const found = await api("GET", `/api/number_lists/${encodeURIComponent(name)}`);
  const box = document.querySelector("form.record [data-json=numbers]");
  const baseNode = document.getElementById("record");
  if (!found.ok || !(box instanceof HTMLTextAreaElement) || !baseNode) return;
  box.value = found.data.numbers.join("\n");
  baseNode.textContent = JSON.stringify(found.data);
}

/**
 * Send the chosen CSV file to an import route and list the rows it did not take.
 * @param {HTMLFormElement} form
 */
async function importCsv(form) {
  const input = form.querySelector("input[type=file]");
  const file = input instanceof HTMLInputElement ? input.files?.[0] : undefined;
  const table = form.querySelector("table.report");
  const body = table?.querySelector("tbody");
  table?.setAttribute("hidden", "");
  body?.replaceChildren();
  if (!file) { status(form, say("import.none")); return; }
  status(form, say("importing"));
  const sent = await api("POST", form.dataset.url ?? "", await file.text(), "text/csv");
  if (!sent.ok) {
    const reason = fieldErrors(sent.data?.detail).map((error) => error.field ? `${error.field}: ${error.message}` : error.message).join(" ");
    status(form, say("import.failed", { reason }));
    return;
  }
  /** @type {{row: number, field: string, message: string}[]} */
  const errors = sent.data.errors ?? (sent.data.rejected ?? []).map(
    (/** @type {{line: number, field: string, reason: string}} */ issue) =>
      ({ row: issue.line, field: issue.field, message: issue.reason }));
  for (const error of errors) {
    const row = document.createElement("tr");
    for (const text of [String(error.row), error.field, error.message]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    body?.append(row);
  }
  if (errors.length) table?.removeAttribute("hidden");
  const bad = String(new Set(errors.map((error) => error.row)).size);
  status(form, form.dataset.report === "users"
    ? say("import.users", { created: String(sent.data.created.length), updated: String(sent.data.updated.length), bad })
    : form.dataset.report === "contacts"
      ? say("import.contacts", { added: String(sent.data.added), bad })
      : say("import.numbers", { added: String(sent.data.added), already: String(sent.data.already), bad }));
  form.dispatchEvent(new CustomEvent("imported", { bubbles: true }));
  if (form.dataset.report === "numbers") await showListed(form.dataset.list ?? "");
}

/**
 * The live preview of a script form: what operators would see, redrawn as the admin types
 * (the server renders it from the unsaved script; a script it refuses shows why instead).
 * @param {HTMLFormElement} form
 */
function livePreview(form) {
  const frame = document.getElementById(form.dataset.preview ?? "");
  if (!(frame instanceof HTMLIFrameElement)) return;
  /** @type {number | undefined} */
  let timer;
  const redraw = async () => {
    const baseNode = document.getElementById("record");
    const record = collect(form, baseNode ? JSON.parse(baseNode.textContent ?? "{}") : {});
    if (!record.name) record.name = "preview";
    const answer = await fetch("/admin/scripts/preview", {
      method: "POST", credentials: "same-origin", body: JSON.stringify(record),
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() } });
    clearErrors(form);
    if (answer.ok) {
      frame.srcdoc = await answer.text();
      return;
    }
    const text = await answer.text();
    let detail;
    try { detail = JSON.parse(text).detail; } catch { detail = text; }
    showErrors(form, fieldErrors(detail), false);
  };
  form.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void redraw(), 400);
  });
}

/**
 * Delete the form's stored record once the admin confirms, then show the list without it;
 * a record still in use stays, and the API's reason (what uses it) is shown.
 * @param {HTMLFormElement} form
 * @param {HTMLButtonElement} button
 */
async function deleteRecord(form, button) {
  const kind = form.dataset.kind ?? "";
  const key = form.dataset.key ?? "";
  if (!key || !window.confirm(say("delete.confirm", { what: button.textContent?.trim() ?? key }))) return;
  clearErrors(form);
  status(form, say("deleting"));
  const gone = await api("DELETE", `/api/${kind}/${encodeURIComponent(key)}`);
  if (!gone.ok) {
    const reason = fieldErrors(gone.data?.detail ?? gone.data).map((error) => error.message).join(" ");
    status(form, say("delete.failed", { reason }));
    return;
  }
  window.location.assign(form.dataset.page ?? form.dataset.next ?? "/admin");
}

for (const form of document.querySelectorAll("form.record")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void saveRecord(/** @type {HTMLFormElement} */ (form));
  });
  const remove = form.querySelector("button[data-delete-record]");
  if (remove instanceof HTMLButtonElement) {
    remove.addEventListener("click", () => void deleteRecord(/** @type {HTMLFormElement} */ (form), remove));
  }
  livePreview(/** @type {HTMLFormElement} */ (form));
}
for (const form of document.querySelectorAll("form.csv-import")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void importCsv(/** @type {HTMLFormElement} */ (form));
  });
}
if (new URLSearchParams(window.location.search).has("saved")) {
  const form = document.querySelector("form.record");
  if (form instanceof HTMLFormElement) status(form, say("saved"));
}
