// The dialog script form (templates/script_form.html): branching shown and hidden as the
// operator answers, the wrap-up sent as JSON, and the server's 422 put next to each field.
// The server decides what is valid; this module only mirrors the branching so that the
// operator sees the right questions at once.

/**
 * A block's or field's `show_if`, as the template writes it in `data-show-if`.
 * @typedef {{field: string, equals?: string | number, one_of?: Array<string | number>,
 *            includes?: string, answered?: boolean}} Condition
 */

/**
 * One problem the server found (`detail` items of its 422 answer).
 * @typedef {{field: string, type: string, msg: string, block?: string | null}} Issue
 */

/** @typedef {string | number | string[] | null} Answer */

/**
 * Whether `value` (a field's current answer; null: unanswered) satisfies `condition`.
 * @param {Condition} condition
 * @param {Answer} value
 * @returns {boolean}
 */
export function holds(condition, value) {
  const given = !(value === null || value === "" || (Array.isArray(value) && value.length === 0));
  if (condition.answered !== undefined) return given === condition.answered;
  if (!given) return false;
  if (condition.includes !== undefined) {
    return Array.isArray(value) && value.includes(condition.includes);
  }
  if (condition.one_of !== undefined) return condition.one_of.some((item) => same(item, value));
  return condition.equals !== undefined && same(condition.equals, value);
}

/**
 * @param {string | number} expected
 * @param {Answer} value
 */
function same(expected, value) {
  if (typeof expected === "number") return Number(value) === expected;
  return value === expected;
}

/**
 * @param {HTMLElement} element
 * @returns {Condition | null}
 */
function conditionOf(element) {
  const text = element.dataset.showIf;
  return text ? /** @type {Condition} */ (JSON.parse(text)) : null;
}

/**
 * The UTC instant of the wall time `local` ("YYYY-MM-DDTHH:MM") in the IANA zone `zone`.
 * @param {string} local
 * @param {string} zone
 * @returns {Date}
 */
export function zonedInstant(local, zone) {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  /** How far the zone's wall clock is ahead of UTC at `at`, in milliseconds. */
  const offset = (/** @type {Date} */ at) => {
    const parts = format.formatToParts(at);
    const part = (/** @type {string} */ type) =>
      Number(parts.find((item) => item.type === type)?.value ?? 0);
    return Date.UTC(part("year"), part("month") - 1, part("day"), part("hour"),
      part("minute"), part("second")) - at.getTime();
  };
  const asUtc = new Date(`${local}Z`).getTime();
  const first = asUtc - offset(new Date(asUtc));
  return new Date(asUtc - offset(new Date(first)));  // right across a change of offset
}

/**
 * The instant a callback input means: the customer's wall time when it names their zone,
 * else the operator's own.
 * @param {HTMLInputElement} input
 * @returns {Date}
 */
function callbackInstant(input) {
  const zone = input.dataset.zone;
  return zone ? zonedInstant(input.value, zone) : new Date(input.value);
}

export class ScriptForm {
  /**
   * @param {HTMLFormElement} form the `#script-form` of the partial
   * @param {{csrfToken?: () => string, fetch?: typeof fetch}} [options]
   */
  constructor(form, options = {}) {
    this.form = form;
    this.csrfToken = options.csrfToken ?? csrfFromCookie;
    this.fetch = options.fetch ?? window.fetch.bind(window);
    /** @type {Record<string, string>} */
    this.messages = JSON.parse(form.dataset.messages ?? "{}");
    this.status = /** @type {HTMLElement} */ (form.querySelector(".status"));
    form.addEventListener("input", () => this.refresh());
    form.addEventListener("change", () => this.refresh());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.save();
    });
    this.refresh();
  }

  /** The interaction whose wrap-up this form saves (the desk sets it as calls come). */
  get interactionId() {
    return this.form.dataset.interaction ?? "";
  }

  set interactionId(value) {
    this.form.dataset.interaction = value;
  }

  /** @returns {HTMLElement[]} every field wrapper of the script, in order */
  fields() {
    return Array.from(this.form.querySelectorAll(".script-block [data-field][data-type]"));
  }

  /**
   * The answer a field's controls hold now (null: none).
   * @param {HTMLElement} wrapper
   * @returns {Answer}
   */
  answerOf(wrapper) {
    const type = wrapper.dataset.type;
    if (type === "checkboxes") {
      return Array.from(wrapper.querySelectorAll("input:checked"))
        .map((input) => /** @type {HTMLInputElement} */ (input).value);
    }
    if (type === "choice") {
      const checked = wrapper.querySelector("input:checked");
      return checked ? /** @type {HTMLInputElement} */ (checked).value : null;
    }
    const control = wrapper.querySelector("input, textarea");
    if (!(control instanceof HTMLInputElement || control instanceof HTMLTextAreaElement)) {
      return null;
    }
    const text = control.value.trim();
    if (text === "") return null;
    if (type === "number") {
      const number = Number(text.replace(",", "."));
      return Number.isFinite(number) ? number : text; // the server names a wrong number
    }
    return text;
  }

  /**
   * Show the blocks and fields whose conditions hold, in order, each seeing only earlier
   * visible answers (as the server decides it); returns the visible answers.
   * @returns {Record<string, Answer>}
   */
  refresh() {
    /** @type {Record<string, Answer>} */
    const answers = {};
    for (const block of /** @type {HTMLElement[]} */ (
      Array.from(this.form.querySelectorAll("fieldset.script-block[data-block]")))) {
      const blockCondition = conditionOf(block);
      const blockShown = !blockCondition ||
        holds(blockCondition, answers[blockCondition.field] ?? null);
      block.hidden = !blockShown;
      for (const wrapper of /** @type {HTMLElement[]} */ (
        Array.from(block.querySelectorAll("[data-field][data-type]")))) {
        const condition = conditionOf(wrapper);
        const shown = blockShown &&
          (!condition || holds(condition, answers[condition.field] ?? null));
        wrapper.hidden = !shown;
        const value = shown ? this.answerOf(wrapper) : null;
        if (shown && value !== null && !(Array.isArray(value) && value.length === 0)) {
          answers[wrapper.dataset.field ?? ""] = value;
        }
      }
    }
    const result = this.resultSelect();
    const chosen = result.selectedOptions[0];
    const callback = /** @type {HTMLElement | null} */ (
      this.form.querySelector("[data-callback]"));
    if (callback) callback.hidden = chosen?.dataset.disposition !== "callback";
    this.showOwnTime();
    return answers;
  }

  /** Under a callback time in the customer's zone, the same moment in the operator's. */
  showOwnTime() {
    const own = /** @type {HTMLElement | null} */ (this.form.querySelector("#sf-callback_at-own"));
    const input = /** @type {HTMLInputElement | null} */ (
      this.form.querySelector("[name=callback_at]"));
    if (!own || !input) return;
    if (!input.value) {
      own.textContent = "";
      return;
    }
    const time = callbackInstant(input).toLocaleString(document.documentElement.lang || "en",
      { dateStyle: "medium", timeStyle: "short" });
    own.textContent = (own.dataset.template ?? "{time}").replace("{time}", time);
  }

  /** @returns {HTMLSelectElement} */
  resultSelect() {
    return /** @type {HTMLSelectElement} */ (this.form.querySelector("select[name=result]"));
  }

  /** The body of `POST /api/interactions/{id}/wrapup`. */
  body() {
    const answers = this.refresh();
    const notes = /** @type {HTMLTextAreaElement} */ (this.form.querySelector("[name=notes]"));
    const when = /** @type {HTMLInputElement} */ (this.form.querySelector("[name=callback_at]"));
    const callbackShown = !(/** @type {HTMLElement} */ (when.closest("[data-callback]")).hidden);
    return {
      answers,
      result: this.resultSelect().value,
      notes: notes.value,
      // a datetime-local is the customer's wall time when their zone is known, else the
      // operator's own; the server stores UTC
      callback_at: callbackShown && when.value ? callbackInstant(when).toISOString() : null,
    };
  }

  /** Clear every error shown next to a field. */
  clearErrors() {
    for (const error of /** @type {HTMLElement[]} */ (
      Array.from(this.form.querySelectorAll(".error")))) {
      error.hidden = true;
      error.textContent = "";
    }
    for (const invalid of Array.from(this.form.querySelectorAll("[aria-invalid]"))) {
      invalid.removeAttribute("aria-invalid");
    }
  }

  /**
   * Put each issue next to its field and move the focus to the first one.
   * @param {Issue[]} issues
   */
  showErrors(issues) {
    /** @type {HTMLElement | null} */
    let first = null;
    for (const issue of issues) {
      const error = this.form.querySelector(`#sf-${CSS.escape(issue.field)}-error`);
      const wrapper = this.form.querySelector(`[data-field="${CSS.escape(issue.field)}"]`);
      if (!(error instanceof HTMLElement) || !(wrapper instanceof HTMLElement)) continue;
      error.textContent = this.messages[issue.type] ?? issue.msg;
      error.hidden = false;
      const controls = /** @type {HTMLElement[]} */ (
        Array.from(wrapper.querySelectorAll("input, select, textarea")));
      const target = wrapper.tagName === "FIELDSET" ? wrapper : controls[0];
      target?.setAttribute("aria-invalid", "true");
      first ??= controls[0] ?? null;
    }
    first?.focus();
  }

  /** Send the wrap-up; on success the form says so and fires `script:saved`. */
  async save() {
    this.clearErrors();
    const url = (this.form.dataset.endpoint ?? "")
      .replace("{interaction}", encodeURIComponent(this.interactionId));
    const response = await this.fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": this.csrfToken() },
      body: JSON.stringify(this.body()),
      credentials: "same-origin",
    });
    if (response.ok) {
      this.status.textContent = this.messages.saved ?? "Saved.";
      this.form.dispatchEvent(new CustomEvent("script:saved", {
        bubbles: true, detail: await response.json(),
      }));
      return;
    }
    const answer = await response.json().catch(() => ({}));
    if (response.status === 422 && Array.isArray(answer.detail)) {
      this.showErrors(/** @type {Issue[]} */ (answer.detail));
      this.status.textContent = this.messages.failed ?? "Not saved.";
    } else {
      this.status.textContent = `${this.messages.error ?? "Not saved."} ${answer.detail ?? ""}`;
    }
  }
}

/** The session's CSRF token, from the cookie that login sets for the page's scripts. */
function csrfFromCookie() {
  const found = document.cookie.split("; ").find((part) => part.startsWith("parley_csrf="));
  return found ? decodeURIComponent(found.slice("parley_csrf=".length)) : "";
}
