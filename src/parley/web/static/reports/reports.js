// @ts-check
/**
 * The reports page's chart: one bar per row of the table for the figure chosen, drawn with
 * uPlot (served by the node from npm). The figures come from the page (the server's rows);
 * nothing is computed here.
 */

/** @typedef {{labels: string[], rates: number[], caps: number[]}} WindowsChart */
/** @typedef {{rows: Array<Record<string, string | number>>, headings: Record<string, string>,
 *             windows?: WindowsChart | null, strings: Record<string, string>}} ReportsConfig */

/** @type {ReportsConfig} */
const config = JSON.parse(document.getElementById("reports-config")?.textContent ?? "{}");
const chart = document.getElementById("chart");
const measure = /** @type {HTMLSelectElement | null} */ (document.getElementById("measure"));
/** @type {any} */
const uPlot = /** @type {any} */ (window).uPlot;
/** @type {any} */
let plot = null;

/** Draw (or draw again) the bars of the chosen figure. */
function draw() {
  if (!chart || !measure || !uPlot || !config.rows?.length) {
    return;
  }
  const name = measure.value;
  const labels = config.rows.map((row) => String(row.key));
  const xs = labels.map((_label, index) => index);
  const ys = config.rows.map((row) => Number(row[name] ?? 0));
  const heading = config.headings[name] ?? name;
  if (plot) {
    plot.destroy();
  }
  chart.textContent = "";
  plot = new uPlot({
    width: Math.max(320, chart.clientWidth || 600),
    height: 240,
    title: (config.strings.chart ?? "{measure}").replace("{measure}", heading),
    legend: {show: false},
    cursor: {show: false},
    scales: {x: {time: false, range: [-0.5, labels.length - 0.5]},
             y: {range: (/** @type {unknown} */ _u, /** @type {number} */ _min,
                         /** @type {number} */ max) => [0, max > 0 ? max * 1.1 : 1]}},
    axes: [
      {splits: () => xs, values: () => labels, grid: {show: false}},
      {},
    ],
    series: [
      {},
      {label: heading, fill: "#2f4f8f", stroke: "#2f4f8f", width: 0,
       paths: uPlot.paths.bars({size: [0.6, 80]}), points: {show: false}},
    ],
  }, [xs, ys], chart);
  chart.dataset.measure = name;
  chart.dataset.drawn = String(ys.length);
}

measure?.addEventListener("change", draw);
draw();

/** The campaigns' abandon rate per regulatory window: a bar per window, the cap a line. */
function drawWindows() {
  const place = document.getElementById("windows-chart");
  const windows = config.windows;
  if (!place || !uPlot || !windows?.labels.length) {
    return;
  }
  const xs = windows.labels.map((_label, index) => index);
  const top = Math.max(...windows.rates, ...windows.caps);
  new uPlot({
    width: Math.max(320, place.clientWidth || 600),
    height: 220,
    title: config.strings.windows ?? "",
    legend: {show: false},
    cursor: {show: false},
    scales: {x: {time: false, range: [-0.5, windows.labels.length - 0.5]},
             y: {range: [0, top > 0 ? top * 1.2 : 0.05]}},
    axes: [
      {splits: () => xs, values: () => windows.labels, grid: {show: false}},
      {size: 60, values: (/** @type {unknown} */ _u, /** @type {number[]} */ ticks) =>
        ticks.map((tick) => `${(tick * 100).toFixed(1)}%`)},
    ],
    series: [
      {},
      {label: config.strings.rate ?? "", fill: "#2f4f8f", stroke: "#2f4f8f", width: 0,
       paths: uPlot.paths.bars({size: [0.6, 80]}), points: {show: false}},
      {label: config.strings.cap ?? "", stroke: "#a4161a", width: 2, dash: [6, 4],
       points: {show: false}},
    ],
  }, [xs, windows.rates, windows.caps], place);
  place.dataset.drawn = String(xs.length);
}

drawWindows();
