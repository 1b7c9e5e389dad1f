// @ts-check
/**
 * The custom report builder: turns the form into the API's definition
 * (POST/PUT /api/reports/custom), shows the API's validation message next to the field it
 * names, and opens the saved report (the server renders its table). Which figures are
 * offered follows the grouping chosen; nothing is computed here.
 */
import { byId, reason, request, say } from "../desk/page.js";

/** @typedef {{id: number | null, labels: Record<string, string>,
 *             values: Record<string, string[]>}} CustomConfig */

/** @type {CustomConfig} */
const config = JSON.parse(byId("desk-config").textContent ?? "{}");
const form = /** @type {HTMLFormElement} */ (byId("builder"));
const dimension = /** @type {HTMLSelectElement} */ (byId("dimension"));
const timeGroup = /** @type {HTMLSelectElement} */ (byId("time_group"));
const period = /** @type {HTMLSelectElement} */ (byId("period"));
const sortBy = /** @type {HTMLSelectElement} */ (byId("sort_by"));
const status = byId("builder-status");
const failure = byId("builder-error");

/** @returns {HTMLFieldSetElement[]} every grouping's figures */
function fieldsets() {
  return Array.from(form.querySelectorAll("fieldset.figures"));
}

/** @returns {string[]} the figures ticked for the grouping chosen, in the page's order */
function measures() {
  const shown = fieldsets().find((set) => set.dataset.dimension === dimension.value);
  if (!shown) return [];
  return Array.from(shown.querySelectorAll("input[name=measures]:checked"))
    .map((box) => /** @type {HTMLInputElement} */ (box).value);
}

/** The sort's choices: the groups, then the figures ticked. */
function sortChoices() {
  const wanted = sortBy.value || sortBy.dataset.value || "";
  const columns = [dimension.value, timeGroup.value, ...measures()].filter(Boolean);
  sortBy.replaceChildren(new Option(say("groups"), ""));
  for (const column of columns) {
    sortBy.append(new Option(config.labels[column] ?? column, column, false,
                             column === wanted));
  }
  sortBy.dataset.value = "";
}

/** Show the figures of the grouping chosen only. */
function showFigures() {
  for (const set of fieldsets()) {
    set.hidden = set.dataset.dimension !== dimension.value;
  }
  sortChoices();
}

const filterRows = byId("filter-rows");
const filterTemplate = /** @type {HTMLTemplateElement} */ (byId("filter-template"));

/** @returns {HTMLElement[]} the filter rows shown */
function filters() {
  return Array.from(filterRows.querySelectorAll(".filter-row"));
}

/**
 * @param {HTMLElement} row
 * @returns {[HTMLSelectElement, HTMLSelectElement]} its dimension and its values
 */
function filterParts(row) {
  return [/** @type {HTMLSelectElement} */ (row.querySelector(".filter-dimension")),
          /** @type {HTMLSelectElement} */ (row.querySelector(".filter-values"))];
}

/** Name each filter row by its place (its accessible name). */
function numberFilters() {
  filters().forEach((row, index) => {
    row.setAttribute("aria-label", `${say("filter")} ${index + 1}`);
  });
}

/**
 * Offer the values of the dimension chosen in a filter row (the server's lists).
 * @param {HTMLElement} row
 */
function offerValues(row) {
  const [chosen, values] = filterParts(row);
  values.replaceChildren(...(config.values[chosen.value] ?? []).map(
    (value) => new Option(value, value)));
}

/** @returns {Record<string, string[]>} the filters as the API takes them */
function filterMap() {
  /** @type {Record<string, string[]>} */
  const found = {};
  for (const row of filters()) {
    const [chosen, values] = filterParts(row);
    const picked = Array.from(values.selectedOptions).map((option) => option.value);
    if (picked.length) {
      found[chosen.value] = [...(found[chosen.value] ?? []), ...picked];
    }
  }
  return found;
}

byId("add-filter").addEventListener("click", () => {
  const row = /** @type {HTMLElement} */ (
    filterTemplate.content.firstElementChild?.cloneNode(true));
  filterRows.append(row);
  offerValues(row);
  numberFilters();
  filterParts(row)[0].focus();
});
filterRows.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.classList.contains("filter-dimension")) {
    offerValues(/** @type {HTMLElement} */ (target.closest(".filter-row")));
  }
});
filterRows.addEventListener("click", (event) => {
  const target = event.target;
  if (target instanceof HTMLElement && target.classList.contains("remove-filter")) {
    target.closest(".filter-row")?.remove();
    numberFilters();
    byId("add-filter").focus();
  }
});

/** @returns {Record<string, unknown>} the definition as the API takes it */
function definition() {
  /** @type {unknown} */
  let chosen = period.value;
  if (period.value === "fixed") {
    chosen = {from: /** @type {HTMLInputElement} */ (byId("period-from")).value,
              to: /** @type {HTMLInputElement} */ (byId("period-to")).value};
  }
  const shared = /** @type {HTMLSelectElement} */ (byId("shared_with")).value;
  return {
    name: /** @type {HTMLInputElement} */ (byId("name")).value,
    group_by: [dimension.value, timeGroup.value].filter(Boolean),
    filters: filterMap(),
    period: chosen,
    measures: measures(),
    sort: sortBy.value ? {by: sortBy.value,
                          descending: /** @type {HTMLInputElement} */ (byId("descending"))
                            .checked} : null,
    shared_with: shared || null,
  };
}

/**
 * Hide every validation message of a form.
 * @param {HTMLElement} where
 * @param {HTMLElement} alert
 */
function clearErrors(where, alert) {
  for (const place of where.querySelectorAll("[data-error]")) {
    const element = /** @type {HTMLElement} */ (place);
    element.hidden = true;
    element.textContent = "";
  }
  alert.hidden = true;
  alert.textContent = "";
}

/**
 * Show the API's message next to the field it names ("measures: …", "period.to: …"), or in
 * the form's alert when no field of the form has that name.
 * @param {HTMLElement} where
 * @param {HTMLElement} alert
 * @param {string} message
 */
function showError(where, alert, message) {
  const field = message.split(":")[0].split(".")[0];
  const place = where.querySelector(`[data-error="${CSS.escape(field)}"]`);
  if (place instanceof HTMLElement) {
    place.textContent = message;
    place.hidden = false;
  } else {
    alert.textContent = message;
    alert.hidden = false;
  }
}

/**
 * Save the form: a new report, or the one shown.
 * @param {boolean} asNew
 */
async function save(asNew) {
  clearErrors(form, failure);
  status.textContent = "";
  const url = asNew || config.id === null ? "/api/reports/custom"
    : `/api/reports/custom/${config.id}`;
  const response = await request(url, {
    method: asNew || config.id === null ? "POST" : "PUT",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(definition()),
  });
  if (!response.ok) {
    showError(form, failure, await reason(response));
    return;
  }
  const saved = await response.json();
  status.textContent = say("saved");
  window.location.assign(`/reports/custom?id=${saved.id}`);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const submitter = /** @type {SubmitEvent} */ (event).submitter;
  void save(submitter instanceof HTMLElement && submitter.dataset.action === "new");
});
dimension.addEventListener("change", showFigures);
timeGroup.addEventListener("change", sortChoices);
form.addEventListener("change", (event) => {
  if (event.target instanceof HTMLInputElement && event.target.name === "measures") {
    sortChoices();
  }
});
period.addEventListener("change", () => {
  const fixed = /** @type {HTMLElement} */ (form.querySelector(".fixed-dates"));
  fixed.hidden = period.value !== "fixed";
});
document.getElementById("delete")?.addEventListener("click", async () => {
  if (config.id === null || !window.confirm(say("delete?"))) return;
  const response = await request(`/api/reports/custom/${config.id}`, {method: "DELETE"});
  if (!response.ok) {
    showError(form, failure, await reason(response));
    return;
  }
  status.textContent = say("deleted");
  window.location.assign("/reports/custom");
});
sortChoices();

// --- scheduled exports (admins) ------------------------------------------------------------

const scheduleForm = document.getElementById("schedule-form");

/**
 * @param {string} id
 * @returns {string} the value of the schedule form's field
 */
function value(id) {
  return /** @type {HTMLInputElement | HTMLSelectElement} */ (byId(id)).value;
}

/** Show the fields the chosen frequency and target need. */
function scheduleFields() {
  if (!scheduleForm) return;
  const wanted = new Set([value("s-every"), value("s-to")]);
  for (const field of scheduleForm.querySelectorAll("[data-when]")) {
    const element = /** @type {HTMLElement} */ (field);
    element.hidden = !wanted.has(element.dataset.when ?? "");
  }
}

/** @returns {Record<string, unknown>} the schedule as the API takes it */
function schedule() {
  /** @type {Record<string, unknown>} */
  const body = {every: value("s-every"), at: value("s-at"), format: value("s-format"),
                to: value("s-to")};
  if (body.every === "weekly") body.weekday = value("s-weekday");
  if (body.every === "monthly") body.day = Number(value("s-day"));
  if (body.to === "folder") {
    body.folder = value("s-folder");
    body.file_name = value("s-file");
  } else {
    body.url = value("s-url");
    body.secret = value("s-secret");
  }
  return body;
}

if (scheduleForm && config.id !== null) {
  const alert = byId("schedule-error");
  scheduleForm.addEventListener("change", scheduleFields);
  scheduleForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(scheduleForm, alert);
    const response = await request(`/api/reports/custom/${config.id}/schedules`, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(schedule()),
    });
    if (!response.ok) {
      showError(scheduleForm, alert, await reason(response));
      return;
    }
    window.location.reload();
  });
  for (const button of document.querySelectorAll("button[data-stop]")) {
    button.addEventListener("click", async () => {
      const id = /** @type {HTMLElement} */ (button).dataset.stop;
      const response = await request(`/api/reports/custom/${config.id}/schedules/${id}`,
                                      {method: "DELETE"});
      if (!response.ok) {
        showError(scheduleForm, alert, await reason(response));
        return;
      }
      window.location.reload();
    });
  }
  scheduleFields();
}
