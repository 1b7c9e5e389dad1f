// The scorecard form: one row per criterion, built from the server's template, filled from
// the stored record and the configuration's picklists (scripts with their fields and options,
// result codes); admin.js saves the form, this turns the rows into the criteria the API takes
// (TIDY.scorecards) and points each row's error slots at its place in the API's errors
// ("criteria.2.weight"), so a refusal is shown beside the field it names.

import { say } from "../desk/page.js";
import { TIDY } from "./admin.js";

/** @typedef {Record<string, any>} Json */
/** @typedef {{value: string, label: string}} Option */
/** @typedef {{id: string, label: string, type: string, kind: string, options: Option[]}} ScriptField */
/** @typedef {{name: string, title: string, fields: ScriptField[]}} ScriptInfo */
/** @typedef {{scripts: ScriptInfo[], results: {code: string, label: string}[], max_scale: number}} Picklists */

const TESTS = ["answer", "talk_s", "hold_s", "transferred", "result", "review"];
const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * A number typed as one, else the text as typed (the API then says what is wrong with it).
 * @param {string} raw
 * @returns {string | number}
 */
function number(raw) {
  const text = raw.trim();
  return NUMBER.test(text) ? Number(text) : text;
}

/**
 * A control of a criterion's row by its data-c name.
 * @param {HTMLElement} row
 * @param {string} name
 */
const find = (row, name) => /** @type {HTMLElement} */ (row.querySelector(`[data-c="${name}"]`));
/** @param {HTMLElement} row @param {string} name */
const box = (row, name) => /** @type {HTMLInputElement} */ (find(row, name));
/** @param {HTMLElement} row @param {string} name */
const choose = (row, name) => /** @type {HTMLSelectElement} */ (find(row, name));

/** @param {HTMLElement} row  The row's controls by what they hold. */
const inputs = (row) => ({
  label: box(row, "label"), id: box(row, "id"), weight: box(row, "weight"),
  test: choose(row, "test"), script: choose(row, "script"), field: choose(row, "field"),
  check: choose(row, "check"), choice: choose(row, "choice"), text: box(row, "text"),
  texts: box(row, "texts"), checks: find(row, "checks"), min: box(row, "min"),
  max: box(row, "max"), transferred: choose(row, "transferred"), result: find(row, "result"),
  marks: choose(row, "marks"), scale: box(row, "scale"),
  when: /** @type {HTMLDetailsElement} */ (find(row, "when")), whenResult: find(row, "when_result"),
});

/**
 * A choice as the admin reads it: its label, with the value stored when that differs.
 * @param {string} label
 * @param {string} value
 */
const shown = (label, value) => (label === value ? label : `${label} (${value})`);

/**
 * An option of a select.
 * @param {string} value
 * @param {string} label
 */
function option(value, label) {
  const made = document.createElement("option");
  made.value = value;
  made.textContent = label;
  return made;
}

/**
 * Fill a box with one labelled checkbox per choice, ticking the chosen ones (a chosen value
 * no longer among the choices is listed too, so that saving keeps it).
 * @param {HTMLElement} holder
 * @param {{value: string, label: string}[]} choices
 * @param {string[]} chosen
 */
function fillChecks(holder, choices, chosen) {
  const all = [...choices];
  for (const value of chosen) {
    if (!all.some((choice) => choice.value === value)) all.push({ value, label: value });
  }
  holder.replaceChildren(...all.map((choice) => {
    const label = document.createElement("label");
    label.className = "choice";
    const tick = document.createElement("input");
    tick.type = "checkbox";
    tick.value = choice.value;
    tick.checked = chosen.includes(choice.value);
    label.append(tick, ` ${choice.label}`);
    return label;
  }));
}

/** @param {HTMLElement} holder @returns {string[]} the ticked values */
function ticked(holder) {
  return [...holder.querySelectorAll("input[type=checkbox]")]
    .filter((input) => /** @type {HTMLInputElement} */ (input).checked)
    .map((input) => /** @type {HTMLInputElement} */ (input).value);
}

class ScorecardForm {
  /**
   * @param {HTMLFormElement} form
   * @param {Picklists} lists
   */
  constructor(form, lists) {
    this.form = form;
    this.lists = lists;
    this.list = /** @type {HTMLOListElement} */ (form.querySelector("ol.criteria"));
    this.template = /** @type {HTMLTemplateElement} */ (document.getElementById("criterion-template"));
    this.made = 0;
    this.codes = lists.results.map((code) => ({ value: code.code, label: shown(code.label, code.code) }));
    this.percent = new Intl.NumberFormat(document.documentElement.lang || "en",
      { style: "percent", maximumFractionDigits: 1 });
    this.points = new Intl.NumberFormat(document.documentElement.lang || "en",
      { maximumFractionDigits: 2 });
  }

  /** @returns {HTMLElement[]} the criteria's rows in order */
  rows() {
    return [...this.list.querySelectorAll("fieldset.criterion")].map((row) => /** @type {HTMLElement} */ (row));
  }

  /** @param {string} name @returns {ScriptInfo | undefined} */
  script(name) {
    return this.lists.scripts.find((script) => script.name === name);
  }

  /** @param {HTMLElement} row @returns {ScriptField | undefined} the chosen script field */
  chosenField(row) {
    const parts = inputs(row);
    return this.script(parts.script.value)?.fields.find((field) => field.id === parts.field.value);
  }

  /**
   * A new row, filled from a stored criterion (or a new one's defaults).
   * @param {Json} criterion
   * @param {boolean} fresh
   */
  add(criterion, fresh) {
    const copy = /** @type {DocumentFragment} */ (this.template.content.cloneNode(true));
    this.made += 1;
    const key = `c${this.made}`;
    for (const element of copy.querySelectorAll("[id], [for], [aria-describedby]")) {
      for (const name of ["id", "for", "aria-describedby"]) {
        const value = element.getAttribute(name);
        if (value) element.setAttribute(name, value.replaceAll("__", key));
      }
    }
    const item = /** @type {HTMLElement} */ (copy.firstElementChild);
    const row = /** @type {HTMLElement} */ (item.querySelector("fieldset.criterion"));
    row.dataset.auto = fresh ? "yes" : "no";
    this.list.append(copy);
    this.load(row, criterion);
    this.wire(row);
    this.renumber();
    return row;
  }

  /**
   * Show a criterion in its row.
   * @param {HTMLElement} row
   * @param {Json} criterion
   */
  load(row, criterion) {
    const parts = inputs(row);
    parts.label.value = criterion.label ?? criterion.id ?? "";
    parts.id.value = criterion.id ?? "";
    parts.weight.value = criterion.weight === undefined ? "1" : String(criterion.weight);
    const test = TESTS.find((name) => name in criterion) ?? "answer";
    parts.test.value = test;
    const answer = test === "answer" && criterion.answer && typeof criterion.answer === "object"
      ? criterion.answer : {};
    const field = typeof answer.field === "string" ? answer.field : "";
    const ticks = this.form.querySelectorAll("[data-json=scripts]:checked");
    const preferred = [...ticks].map((box) => /** @type {HTMLInputElement} */ (box).value);
    const holders = this.lists.scripts.filter((script) => script.fields.some((item) => item.id === field));
    const holder = holders.find((script) => preferred.includes(script.name)) ?? holders[0];
    this.fillScripts(row, field && !holder);
    parts.script.value = holder ? holder.name : (field ? "" : (this.lists.scripts[0]?.name ?? ""));
    this.fillFields(row, field);
    let check = "answered";
    if (answer.answered === false) check = "empty";
    for (const name of ["equals", "one_of", "includes"]) if (name in answer) check = name;
    parts.check.value = check;
    const values = check === "one_of" && Array.isArray(answer.one_of) ? answer.one_of.map(String)
      : check in answer ? [String(answer[check])] : [];
    parts.text.value = check === "equals" ? (values[0] ?? "") : "";
    parts.texts.value = check === "one_of" ? values.join(", ") : "";
    this.fitAnswer(row, values);
    const bounds = (test === "talk_s" || test === "hold_s") && criterion[test] ? criterion[test] : {};
    parts.min.value = bounds.min === undefined || bounds.min === null ? "" : String(bounds.min);
    parts.max.value = bounds.max === undefined || bounds.max === null ? "" : String(bounds.max);
    parts.transferred.value = criterion.transferred === true ? "true" : "false";
    fillChecks(parts.result, this.codes, Array.isArray(criterion.result) ? criterion.result.map(String) : []);
    const scale = criterion.review && typeof criterion.review === "object" ? Number(criterion.review.scale ?? 1) : 1;
    parts.marks.value = scale > 1 ? "scale" : "yes-no";
    parts.scale.value = String(scale > 1 ? scale : 5);
    const when = Array.isArray(criterion.when_result) ? criterion.when_result.map(String) : [];
    fillChecks(parts.whenResult, this.codes, when);
    parts.when.open = false;
    this.showTest(row);
  }

  /**
   * The script choice: every script, and "no script has this field" when a stored field is in
   * none of them.
   * @param {HTMLElement} row
   * @param {boolean} orphan
   */
  fillScripts(row, orphan) {
    const select = inputs(row).script;
    select.replaceChildren(...this.lists.scripts.map((script) => option(script.name, script.title)));
    if (!this.lists.scripts.length) select.append(option("", say("script.missing")));
    else if (orphan) select.append(option("", say("script.none")));
  }

  /**
   * The field choice: the chosen script's fields (the stored one kept when it has gone).
   * @param {HTMLElement} row
   * @param {string} keep
   */
  fillFields(row, keep) {
    const parts = inputs(row);
    const fields = this.script(parts.script.value)?.fields ?? [];
    parts.field.replaceChildren(...fields.map((field) => option(field.id, `${field.label} (${field.id}, ${field.kind})`)));
    if (keep && !fields.some((field) => field.id === keep)) {
      parts.field.append(option(keep, say("field.elsewhere", { field: keep })));
    }
    if (keep) parts.field.value = keep;
  }

  /**
   * Offer the tests the chosen field can pass (a ticked box only of checkboxes, a value only
   * of the others) and the value control that fits: a list of the field's options, or text.
   * @param {HTMLElement} row
   * @param {string[]} [values] the values to show chosen
   */
  fitAnswer(row, values) {
    const parts = inputs(row);
    const field = this.chosenField(row);
    const boxes = field?.type === "checkboxes";
    for (const choice of parts.check.options) {
      const fits = choice.value === "answered" || choice.value === "empty"
        || (choice.value === "includes" ? boxes : !boxes);
      choice.hidden = !fits;
      choice.disabled = !fits;
    }
    if (parts.check.selectedOptions[0]?.disabled) parts.check.value = "answered";
    const check = parts.check.value;
    const options = field?.options ?? [];
    const kept = values ?? (check === "one_of" ? ticked(parts.checks) : [parts.choice.value]);
    const choices = options.map((item) => ({ value: item.value, label: shown(item.label, item.value) }));
    parts.choice.replaceChildren(...choices.map((item) => option(item.value, item.label)));
    if (kept[0] && !options.some((item) => item.value === kept[0])) parts.choice.append(option(kept[0], kept[0]));
    if (kept[0]) parts.choice.value = kept[0];
    fillChecks(parts.checks, choices, check === "one_of" ? kept : []);
    const visible = check === "equals" ? (options.length ? "choice" : "text")
      : check === "one_of" ? (options.length ? "checks" : "texts")
        : check === "includes" ? "choice" : "";
    for (const holder of row.querySelectorAll("[data-value]")) {
      /** @type {HTMLElement} */ (holder).hidden = /** @type {HTMLElement} */ (holder).dataset.value !== visible;
    }
    this.slots(row);
  }

  /** @param {HTMLElement} row  Show the controls of the row's test only. */
  showTest(row) {
    const parts = inputs(row);
    const test = parts.test.value;
    for (const panel of row.querySelectorAll(".criterion-test")) {
      const holder = /** @type {HTMLElement} */ (panel);
      holder.hidden = !(holder.dataset.for ?? "").split(" ").includes(test);
    }
    const scale = /** @type {HTMLElement} */ (row.querySelector("[data-scale]"));
    scale.hidden = parts.marks.value !== "scale";
    const summary = /** @type {HTMLElement} */ (row.querySelector("[data-when-summary]"));
    summary.textContent = ticked(parts.whenResult).join(", ");
    this.slots(row);
  }

  /**
   * Point the row's error slots at the criterion's path in the API's errors.
   * @param {HTMLElement} row
   */
  slots(row) {
    const index = this.rows().indexOf(row);
    const parts = inputs(row);
    const check = parts.check.value === "empty" ? "answered" : parts.check.value;
    for (const slot of row.querySelectorAll("[data-slot]")) {
      const relative = (/** @type {HTMLElement} */ (slot).dataset.slot ?? "")
        .replace("{test}", parts.test.value).replace("{check}", check);
      slot.setAttribute("data-error", relative ? `criteria.${index}.${relative}` : `criteria.${index}`);
    }
  }

  /** Number the rows, point their error slots, and show each weight's share of the total. */
  renumber() {
    const rows = this.rows();
    rows.forEach((row, index) => {
      /** @type {HTMLElement} */ (row.querySelector("[data-legend]")).textContent = say("criterion", { number: String(index + 1) });
      /** @type {HTMLButtonElement} */ (row.querySelector('[data-move="-1"]')).disabled = index === 0;
      /** @type {HTMLButtonElement} */ (row.querySelector('[data-move="1"]')).disabled = index === rows.length - 1;
      this.slots(row);
    });
    this.shares();
  }

  /** Each criterion's share of the points, and the total, as the weights stand. */
  shares() {
    const rows = this.rows();
    const weights = rows.map((row) => {
      const text = inputs(row).weight.value.trim();
      return NUMBER.test(text) && Number(text) > 0 ? Number(text) : null;
    });
    const known = weights.every((weight) => weight !== null);
    const total = weights.reduce((sum, weight) => (sum ?? 0) + (weight ?? 0), 0) ?? 0;
    rows.forEach((row, index) => {
      const weight = weights[index];
      /** @type {HTMLElement} */ (row.querySelector("[data-share]")).textContent = weight === null
        ? say("share.unknown") : known
          ? say("share", { share: this.percent.format(weight / total), total: this.points.format(total) }) : "";
    });
    const line = document.getElementById("criteria-total");
    if (line) line.textContent = known && rows.length ? say("total", { total: this.points.format(total) }) : "";
  }

  /**
   * An id for a new criterion from its label: letters, digits and dashes, unique here.
   * @param {HTMLElement} row
   * @param {string} label
   */
  autoId(row, label) {
    let base = label.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 56);
    if (!/^[a-z]/.test(base)) base = base ? `c-${base}` : "criterion";
    const taken = new Set(this.rows().filter((other) => other !== row).map((other) => inputs(other).id.value));
    let candidate = base;
    for (let count = 2; taken.has(candidate); count += 1) candidate = `${base}-${count}`;
    return candidate;
  }

  /** @param {HTMLElement} row  React to the row's controls. */
  wire(row) {
    const parts = inputs(row);
    parts.label.addEventListener("input", () => {
      if (row.dataset.auto === "yes") parts.id.value = this.autoId(row, parts.label.value);
    });
    parts.id.addEventListener("input", () => { row.dataset.auto = "no"; });
    parts.weight.addEventListener("input", () => this.shares());
    parts.test.addEventListener("change", () => this.showTest(row));
    parts.marks.addEventListener("change", () => this.showTest(row));
    parts.whenResult.addEventListener("change", () => this.showTest(row));
    parts.script.addEventListener("change", () => {
      this.fillFields(row, "");
      this.fitAnswer(row, []);
    });
    parts.field.addEventListener("change", () => this.fitAnswer(row, []));
    parts.check.addEventListener("change", () => this.fitAnswer(row));
    for (const button of row.querySelectorAll("[data-move]")) {
      button.addEventListener("click", () => {
        const item = /** @type {HTMLElement} */ (row.closest("li"));
        const step = Number(/** @type {HTMLElement} */ (button).dataset.move);
        const other = step < 0 ? item.previousElementSibling : item.nextElementSibling;
        if (!other) return;
        if (step < 0) other.before(item); else other.after(item);
        this.renumber();
        /** @type {HTMLElement} */ (button).focus();
      });
    }
    row.querySelector("[data-remove]")?.addEventListener("click", () => {
      const item = /** @type {HTMLElement} */ (row.closest("li"));
      const next = item.nextElementSibling ?? item.previousElementSibling;
      item.remove();
      this.renumber();
      const focus = next?.querySelector("input") ?? this.form.querySelector("[data-add]");
      if (focus instanceof HTMLElement) focus.focus();
    });
  }

  /**
   * The criterion a row describes, as the API takes it.
   * @param {HTMLElement} row
   * @returns {Json}
   */
  read(row) {
    const parts = inputs(row);
    /** @type {Json} */
    const criterion = { id: parts.id.value.trim(), label: parts.label.value.trim(), weight: number(parts.weight.value) };
    const test = parts.test.value;
    if (test === "answer") {
      const check = parts.check.value;
      const numeric = this.chosenField(row)?.type === "number";
      /** @param {string} value */
      const typed = (value) => (numeric ? number(value) : value);
      const options = (this.chosenField(row)?.options ?? []).length > 0;
      /** @type {Json} */
      const answer = { field: parts.field.value };
      if (check === "answered" || check === "empty") answer.answered = check === "answered";
      else if (check === "includes") answer.includes = parts.choice.value;
      else if (check === "equals") answer.equals = typed(options ? parts.choice.value : parts.text.value.trim());
      else {
        answer.one_of = (options ? ticked(parts.checks)
          : parts.texts.value.split(",").map((value) => value.trim()).filter(Boolean)).map(typed);
      }
      criterion.answer = answer;
    } else if (test === "talk_s" || test === "hold_s") {
      /** @type {Json} */
      const bounds = {};
      if (parts.min.value.trim()) bounds.min = number(parts.min.value);
      if (parts.max.value.trim()) bounds.max = number(parts.max.value);
      criterion[test] = bounds;
    } else if (test === "transferred") {
      criterion.transferred = parts.transferred.value === "true";
    } else if (test === "result") {
      criterion.result = ticked(parts.result);
    } else {
      criterion.review = parts.marks.value === "scale" ? { scale: number(parts.scale.value) } : true;
    }
    const when = ticked(parts.whenResult);
    if (when.length) criterion.when_result = when;
    return criterion;
  }

  /** Build the rows from the stored record and wire the add buttons. */
  start() {
    const stored = JSON.parse(document.getElementById("record")?.textContent ?? "{}");
    for (const criterion of stored.criteria ?? []) this.add(criterion, false);
    if (!this.rows().length) this.add({ weight: 10 }, true);
    for (const button of this.form.querySelectorAll("[data-add]")) {
      button.addEventListener("click", () => {
        const test = /** @type {HTMLElement} */ (button).dataset.add ?? "answer";
        const row = this.add(test === "review" ? { weight: 10, review: true } : { weight: 10 }, true);
        inputs(row).label.focus();
      });
    }
    TIDY.scorecards = (record) => {
      record.criteria = this.rows().map((row) => this.read(row));
      return record;
    };
  }
}

const form = document.querySelector("form.scorecard");
const lists = document.getElementById("picklists");
if (form instanceof HTMLFormElement && lists) {
  new ScorecardForm(form, JSON.parse(lists.textContent ?? "{}")).start();
}
