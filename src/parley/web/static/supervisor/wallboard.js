// The wallboard's runtime: the queue figures from /wallboard/figures every second (the
// server formats them and says which are past the queue's thresholds); each cell is
// rewritten only when its text or colour changed. Nothing on the page is interactive.
import { byId, say } from "../desk/page.js";

/**
 * @typedef {object} QueueRow
 * @property {string} key
 * @property {Record<string, string>} cells
 * @property {Record<string, string>} alerts
 */

const CELLS = ["waiting", "longest_wait", "ready", "busy", "service_level", "abandon_rate"];
let failures = 0;

/** @param {QueueRow[]} queues */
function draw(queues) {
  const body = byId("board-rows");
  const keep = new Set();
  for (const queue of queues) {
    keep.add(queue.key);
    let row = [...body.children].find((child) =>
      child instanceof HTMLElement && child.dataset.key === queue.key);
    if (!(row instanceof HTMLTableRowElement)) {
      const fresh = document.createElement("tr");
      fresh.dataset.key = queue.key;
      row = fresh;
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = queue.key;
      fresh.append(name);
      for (const cell of CELLS) {
        const td = document.createElement("td");
        td.dataset.cell = cell;
        fresh.append(td);
      }
      body.append(fresh);
    }
    for (const td of row.querySelectorAll("td[data-cell]")) {
      if (!(td instanceof HTMLElement)) continue;
      const cell = td.dataset.cell ?? "";
      const text = queue.cells[cell] ?? "–";
      if (td.textContent !== text) td.textContent = text;
      td.classList.toggle("over", Boolean(queue.alerts[cell]));
    }
  }
  for (const row of [...body.children]) {
    if (row instanceof HTMLElement && !keep.has(row.dataset.key ?? "")) row.remove();
  }
  const alerts = queues.flatMap((queue) => Object.values(queue.alerts));
  const box = byId("wallboard-alert");
  const text = alerts.join(" ");
  if (box.textContent !== text) box.textContent = text;
  box.hidden = !text;
}

async function refresh() {
  try {
    const response = await fetch("/wallboard/figures", { credentials: "same-origin" });
    if (response.status === 401 || response.status === 403) {
      location.reload();  // the session ended: the page says so
      return;
    }
    if (!response.ok) throw new Error(response.statusText);
    const answer = await response.json();
    draw(answer.queues);
    byId("board-time").textContent = new Date(answer.now).toLocaleTimeString(
      document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
    failures = 0;
  } catch {
    failures += 1;
    if (failures === 3) {
      byId("wallboard-alert").textContent = say("events.lost");
      byId("wallboard-alert").hidden = false;
    }
  }
}

window.setInterval(refresh, 1000);
void refresh();
