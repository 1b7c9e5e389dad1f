// @ts-check
/**
 * The call review page: the timeline's times play the recording from that moment, and each
 * scorecard's form sends the reviewer's marks (PUT /api/quality/calls/{id}/reviews/{card});
 * the page is then shown again with the new total the server computed. Nothing is scored
 * here.
 */
import { request, say } from "../desk/page.js";

const player = /** @type {HTMLAudioElement | null} */ (document.getElementById("recording"));

for (const button of document.querySelectorAll("[data-seek]")) {
  button.addEventListener("click", () => {
    if (!player) return;
    player.currentTime = Number(/** @type {HTMLElement} */ (button).dataset.seek ?? 0);
    void player.play().catch(() => undefined);
  });
}

/**
 * The marks a form holds: criterion id -> mark, null for "does not apply"; unmarked left out.
 * @param {HTMLFormElement} form
 * @returns {Record<string, number | null>}
 */
function marksOf(form) {
  /** @type {Record<string, number | null>} */
  const marks = {};
  for (const select of form.querySelectorAll("select")) {
    if (select.value === "na") marks[select.name] = null;
    else if (select.value !== "") marks[select.name] = Number(select.value);
  }
  return marks;
}

/**
 * Show each error of a 422 answer next to its criterion, or in the form's status.
 * @param {HTMLFormElement} form
 * @param {unknown} detail
 * @param {HTMLElement} status
 */
function showErrors(form, detail, status) {
  if (!Array.isArray(detail)) {
    status.textContent = say("failed", { reason: String(detail) });
    return;
  }
  for (const issue of detail) {
    const where = Array.isArray(issue.loc) ? String(issue.loc[issue.loc.length - 1]) : "";
    const slot = form.querySelector(`#error-${form.dataset.scorecard}-${where}`);
    if (slot) slot.textContent = String(issue.msg);
    else status.textContent = say("failed", { reason: String(issue.msg) });
  }
}

for (const form of document.querySelectorAll("form.review-form")) {
  const reviewForm = /** @type {HTMLFormElement} */ (form);
  reviewForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = /** @type {HTMLElement} */ (reviewForm.querySelector(".status"));
    for (const slot of reviewForm.querySelectorAll(".field-error")) slot.textContent = "";
    const note = /** @type {HTMLTextAreaElement} */ (reviewForm.elements.namedItem("note"));
    const url = `/api/quality/calls/${encodeURIComponent(reviewForm.dataset.call ?? "")}`
      + `/reviews/${encodeURIComponent(reviewForm.dataset.scorecard ?? "")}`;
    const response = await request(url, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ marks: marksOf(reviewForm), note: note.value }),
    });
    if (response.ok) {
      status.textContent = say("saved");
      window.location.reload();
      return;
    }
    /** @type {{detail?: unknown}} */
    let body = {};
    try {
      body = await response.json();
    } catch {
      body = { detail: response.statusText };
    }
    showErrors(reviewForm, body.detail ?? response.statusText, status);
  });
}
