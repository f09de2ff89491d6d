// Charts for one prediction: label bars, frame importance, and the temporal attention matrix.

import { clear, el, fmt, heatColour, inkOn, labelColour, uniqueId } from "./dom.js";

/** Top-k labels as horizontal bars, best first. */
export function labelBars(labels, modelLabels) {
  const list = el("ol", { class: "label-bars" });
  for (const { label, score } of labels) {
    const fill = el("span", { class: "fill" });
    fill.style.width = `${Math.max(0.5, 100 * score)}%`;
    fill.style.background = labelColour(label, modelLabels);
    list.append(
      el(
        "li",
        { class: "label-bar" },
        el("span", { class: "label-name", text: fmt.label(label) }),
        el("span", { class: "track", "aria-hidden": "true" }, fill),
        el("span", { class: "label-score", text: fmt.score(score) }),
      ),
    );
  }
  return list;
}

/** One bar per sampled frame (its share of the temporal attention), in the strip's columns. */
export function importanceChart(importance, timestampsS) {
  const max = Math.max(...importance, 1e-9);
  const chart = el("ol", { class: "importance", "aria-label": "Frame importance (attention each frame receives)" });
  importance.forEach((value, k) => {
    const bar = el("span", { class: "importance-bar", "aria-hidden": "true" });
    bar.style.height = `${Math.max(2, (100 * value) / max)}%`;
    chart.append(
      el(
        "li",
        { class: "importance-cell", title: `frame ${k} at ${fmt.secs(timestampsS[k])}: ${fmt.score(value)}` },
        el("span", { class: "importance-track" }, bar),
        el("span", { class: "importance-value", text: value.toFixed(2) }),
      ),
    );
  });
  return chart;
}

function moveFocus(table, event) {
  const cell = event.target.closest("td");
  if (!cell) return;
  const steps = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  const step = steps[event.key];
  if (!step) return;
  event.preventDefault();
  const row = Number(cell.dataset.row) + step[0];
  const col = Number(cell.dataset.col) + step[1];
  table.querySelector(`td[data-row="${row}"][data-col="${col}"]`)?.focus();
}

function matrixCell(value, max, row, col, timestampsS, readout) {
  const text = `frame ${row} (${fmt.secs(timestampsS[row])}) attends to frame ${col} (${fmt.secs(timestampsS[col])}): ${fmt.score(value)}`;
  const cell = el("td", { tabindex: -1, title: text, "data-row": row, "data-col": col, "aria-label": text });
  cell.style.background = heatColour(value / max);
  cell.style.color = inkOn(value / max);
  cell.append(el("span", { class: "cell-value", text: value.toFixed(2) }));
  const show = () => {
    readout.textContent = text;
  };
  cell.addEventListener("mouseenter", show);
  cell.addEventListener("focus", show);
  return cell;
}

/** The T'×T' temporal attention as a heat grid: row = query frame, column = attended frame. */
export function attentionMatrix(temporal, timestampsS) {
  const max = Math.max(...temporal.flat(), 1e-9);
  const readout = el("p", { class: "readout", "aria-live": "polite", text: "Hover over or focus a cell for its value." });
  const captionId = uniqueId("matrix");
  const table = el("table", { class: "matrix", "aria-describedby": captionId });
  const head = el("tr", {}, el("th", { scope: "col", text: "q \\ k" }));
  timestampsS.forEach((_, k) => head.append(el("th", { scope: "col", text: k })));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  temporal.forEach((row, i) => {
    const tr = el("tr", {}, el("th", { scope: "row", text: i }));
    row.forEach((value, j) => tr.append(matrixCell(value, max, i, j, timestampsS, readout)));
    body.append(tr);
  });
  table.append(body);
  table.querySelector("td")?.setAttribute("tabindex", "0");
  table.addEventListener("keydown", (event) => moveFocus(table, event));
  table.addEventListener("mouseleave", () => {
    readout.textContent = "Hover over or focus a cell for its value.";
  });
  const caption = el("p", {
    id: captionId,
    class: "hint",
    text: "Rows: the querying frame; columns: the frame it attends to (rows sum to 1). Arrow keys move between cells.",
  });
  return el("div", { class: "matrix-wrap" }, caption, el("div", { class: "scroll-x" }, table), readout);
}

/** Definition list of name → value pairs. */
export function facts(pairs) {
  const list = el("dl", { class: "facts" });
  for (const [name, value] of pairs) {
    if (value === undefined || value === null) continue;
    list.append(el("div", {}, el("dt", { text: name }), el("dd", { text: value })));
  }
  return list;
}

export function resetChildren(node, ...children) {
  clear(node).append(...children);
  return node;
}
