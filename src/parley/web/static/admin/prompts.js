// The prompts page: upload a WAV recording or type text to be spoken, each sent to
// /api/prompts/<language>/<name>; the API's refusals are shown beside the field they name.
// A prompt saved or deleted shows the page again as it now is.

import { csrfToken, say } from "../desk/page.js";
import { api, clearErrors, fieldErrors, showErrors, status } from "./admin.js";

/**
 * Send one prompt form: the file as audio/wav, or the text as JSON.
 * @param {HTMLFormElement} form
 */
async function savePrompt(form) {
  clearErrors(form);
  const value = (/** @type {string} */ name) =>
    /** @type {HTMLInputElement} */ (form.elements.namedItem(name)).value.trim();
  const url = `/api/prompts/${encodeURIComponent(value("language"))}/${encodeURIComponent(value("name"))}`;
  let sent;
  if (form.dataset.source === "file") {
    const input = /** @type {HTMLInputElement} */ (form.elements.namedItem("file"));
    const file = input.files?.[0];
    if (!file) { showErrors(form, [{ field: "file", message: say("prompt.no_file") }]); return; }
    status(form, say("saving"));
    const init = { method: "PUT", credentials: /** @type {RequestCredentials} */ ("same-origin"),
      body: file, headers: { "Content-Type": "audio/wav", "X-CSRF-Token": csrfToken() } };
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = JSON.parse(text); } catch { data = text; }
    sent = { ok: response.ok, status: response.status, data };
  } else {
    status(form, say("saving"));
    sent = await api("PUT", url, { text: value("text") });
  }
  if (!sent.ok) {
    const errors = fieldErrors(sent.data?.detail ?? sent.data);
    showErrors(form, errors.map((error) => error.field === "body" ? { ...error, field: form.dataset.source ?? "" } : error));
    status(form, say("not_saved"));
    return;
  }
  window.location.assign("/admin/prompts?saved=1");
}

for (const form of document.querySelectorAll("form.prompt-form")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void savePrompt(/** @type {HTMLFormElement} */ (form));
  });
}
const deleted = document.querySelector(".delete-status");
for (const button of document.querySelectorAll("button[data-delete]")) {
  button.addEventListener("click", async () => {
    const done = await api("DELETE", /** @type {HTMLElement} */ (button).dataset.delete ?? "");
    if (!done.ok) {
      if (deleted) deleted.textContent = say("prompt.not_deleted", { reason: fieldErrors(done.data?.detail).map((error) => error.message).join(" ") });
      return;
    }
    window.location.assign("/admin/prompts?deleted=1");
  });
}
const query = new URLSearchParams(window.location.search);
if (deleted && query.has("deleted")) deleted.textContent = say("deleted");
if (deleted && query.has("saved")) deleted.textContent = say("saved");
