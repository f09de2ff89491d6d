// Small DOM and formatting helpers shared by the page's modules.

/** Create an element: el("p", {class: "x", text: "hi"}, child, ...). Attributes set as properties when
 * they are ones (hidden, value, ...), else as attributes; `text` sets textContent. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

/** SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

export const fmt = {
  score: (v) => v.toFixed(3),
  pct: (v) => `${(100 * v).toFixed(1)}%`,
  secs: (v) => `${v.toFixed(2)} s`,
  ms: (v) => `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`,
  bytes: (n) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`),
  label: (s) => s.replaceAll("_", " "),
};

// Categorical colours (Tableau 10 plus two), one per label index in the model's label list, so a label
// keeps its colour across panels and in the timeline.
const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
  "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#8c564b",
];

export function labelColour(label, labels) {
  const index = labels ? labels.indexOf(label) : -1;
  if (index >= 0) return PALETTE[index % PALETTE.length];
  let hash = 0;
  for (const ch of label) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

/** The service's heatmap ramp (service/heatmap.py: blue → cyan → yellow → red) for v in [0, 1]. */
export function heatColour(v) {
  const x = Math.min(1, Math.max(0, v));
  const channel = (centre) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - centre))));
  return `rgb(${channel(3)}, ${channel(2)}, ${channel(1)})`;
}

/** Text colour readable on heatColour(v). */
export function inkOn(v) {
  return v > 0.3 && v < 0.8 ? "#000" : "#fff";
}

let uid = 0;
export function uniqueId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}
