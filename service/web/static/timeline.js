// The timeline of a long video, drawn from the streamed `POST /v1/timelines` answer as it arrives:
// segments as a coloured band, label probabilities over time, and each window's details on click.

import { importanceChart, facts, labelBars } from "./charts.js";
import { clear, el, fmt, labelColour, svg, uniqueId } from "./dom.js";
import { extractFrames } from "./frames.js";

const CHART_W = 1000;
const CHART_H = 220;

/** Best label and its score for one window line. */
function topOf(window) {
  return window.labels[0] ?? { label: "?", score: 0 };
}

export class TimelineView {
  /** `model`: the /v1/models entry; `file`: the uploaded clip (its frames are shown for a window). */
  constructor(container, model, file) {
    this.container = container;
    this.model = model;
    this.file = file;
    this.windows = [];
    this.segments = null;
    this.head = null;
    this.selected = -1;
    this.drawQueued = false;
    this.build();
  }

  build() {
    const id = uniqueId("timeline");
    this.status = el("p", { class: "timeline-status", role: "status", text: "Waiting for the first line…" });
    this.facts = el("div");
    this.band = el("div", { class: "band", role: "img", "aria-label": "Segments: none yet" });
    this.bandNote = el("p", { class: "hint" });
    this.chart = el("div", { class: "prob-chart" });
    this.legend = el("ul", { class: "legend" });
    this.windowRow = el("div", { class: "window-row", role: "listbox", "aria-label": "Windows (arrow keys move)" });
    this.windowRow.addEventListener("keydown", (event) => this.onKey(event));
    this.details = el("div", { class: "window-details", "aria-live": "polite" });
    this.timings = el("div");
    clear(this.container).append(
      el("h3", { id, text: "Timeline" }),
      this.status,
      this.facts,
      el("h4", { text: "Segments" }),
      this.band,
      this.bandNote,
      el("h4", { text: "Label probabilities over time" }),
      this.chart,
      this.legend,
      el("h4", { text: "Windows" }),
      el("p", { class: "hint", text: "Select a window to see its labels, frames and frame importance." }),
      this.windowRow,
      this.details,
      this.timings,
    );
    this.container.setAttribute("aria-labelledby", id);
  }

  get duration() {
    const fromClip = this.head?.clip?.duration_s;
    const fromWindows = this.windows.reduce((m, w) => Math.max(m, w?.end_s ?? 0), 0);
    return Math.max(fromClip || 0, fromWindows, 1e-6);
  }

  /** Handle one parsed NDJSON line. Returns the error object of an error line, else null. */
  handle(line) {
    switch (line.type) {
      case "timeline":
        this.head = line;
        this.showHead();
        break;
      case "window":
        this.windows[line.index] = line;
        this.addWindowButton(line);
        this.queueDraw();
        break;
      case "segments":
        this.segments = line.segments;
        this.queueDraw();
        break;
      case "done":
        this.finish(line.timings_ms);
        break;
      case "error":
        this.status.textContent = `Stopped: ${line.error.message} (${line.error.code})`;
        this.status.classList.add("error-text");
        return line.error;
      default:
        break; // a line type this page does not know yet: ignore it
    }
    return null;
  }

  received() {
    return this.windows.filter(Boolean).length;
  }

  showHead() {
    const h = this.head;
    const clip = h.clip ?? {};
    clear(this.facts).append(
      facts([
        ["model", h.model?.name ?? h.model],
        ["duration", clip.duration_s === undefined ? null : fmt.secs(clip.duration_s)],
        ["frame rate", clip.fps === undefined ? null : `${clip.fps.toFixed(2)} fps`],
        ["size", clip.width ? `${clip.width} × ${clip.height}` : null],
        ["rotation", clip.rotation === undefined ? null : `${clip.rotation}°`],
        ["window", fmt.secs(h.window_s)],
        ["stride", fmt.secs(h.stride_s)],
        ["windows", String(h.windows)],
      ]),
    );
    this.windowRow.style.setProperty("--n", String(Math.max(1, h.windows || 1)));
    this.updateStatus();
  }

  updateStatus() {
    const total = this.head?.windows;
    this.status.textContent = `Streaming: ${this.received()}${total ? ` of ${total}` : ""} windows received…`;
    this.container.dataset.windows = String(this.received());
  }

  finish(timings) {
    this.status.textContent = `Done: ${this.received()} windows.`;
    this.container.dataset.state = "done";
    if (timings) {
      clear(this.timings).append(
        el("h4", { text: "Timings" }),
        facts(Object.entries(timings).map(([name, ms]) => [name, fmt.ms(ms)])),
      );
    }
  }

  queueDraw() {
    this.updateStatus();
    if (this.drawQueued) return;
    this.drawQueued = true;
    requestAnimationFrame(() => {
      this.drawQueued = false;
      this.drawBand();
      this.drawChart();
    });
  }

  /** Final segments once they arrive; until then each window's top label over its stride. */
  provisionalSegments() {
    const stride = this.head?.stride_s;
    return this.windows.filter(Boolean).map((w) => ({
      label: topOf(w).label,
      score: topOf(w).score,
      start_s: w.start_s,
      end_s: stride ? Math.min(w.end_s, w.start_s + stride) : w.end_s,
    }));
  }

  drawBand() {
    const final = Array.isArray(this.segments);
    const segments = final ? this.segments : this.provisionalSegments();
    const d = this.duration;
    clear(this.band);
    for (const s of segments) {
      const part = el("span", {
        class: "segment",
        title: `${fmt.label(s.label)}: ${fmt.secs(s.start_s)}–${fmt.secs(s.end_s)} (${fmt.score(s.score)})`,
      });
      part.style.left = `${(100 * s.start_s) / d}%`;
      part.style.width = `${(100 * Math.max(0, s.end_s - s.start_s)) / d}%`;
      part.style.background = labelColour(s.label, this.model?.labels);
      if ((s.end_s - s.start_s) / d > 0.12) part.textContent = fmt.label(s.label);
      this.band.append(part);
    }
    this.band.classList.toggle("provisional", !final);
    const words = segments.map((s) => `${fmt.label(s.label)} ${s.start_s.toFixed(1)}–${s.end_s.toFixed(1)} s`);
    this.band.setAttribute("aria-label", `Segments: ${words.join("; ") || "none yet"}`);
    this.bandNote.textContent = final
      ? `${segments.length} segments (consecutive windows with the same top label merged).`
      : "Provisional: each window's top label, until the final segments arrive.";
  }

  drawChart() {
    const d = this.duration;
    const windows = this.windows.filter(Boolean);
    const labels = [...new Set(windows.flatMap((w) => w.labels.map((l) => l.label)))];
    const x = (w) => (CHART_W * (w.start_s + w.end_s)) / 2 / d;
    const y = (score) => CHART_H - score * CHART_H;
    const lines = labels.map((label) => {
      const points = windows.map((w) => `${x(w).toFixed(1)},${y(w.labels.find((l) => l.label === label)?.score ?? 0).toFixed(1)}`);
      return svg("polyline", {
        points: points.join(" "),
        fill: "none",
        stroke: labelColour(label, this.model?.labels),
        "stroke-width": 2,
        "vector-effect": "non-scaling-stroke",
      });
    });
    const grid = [0.25, 0.5, 0.75].map((v) => svg("line", { x1: 0, x2: CHART_W, y1: y(v), y2: y(v), class: "gridline", "vector-effect": "non-scaling-stroke" }));
    const chart = svg("svg", { viewBox: `0 0 ${CHART_W} ${CHART_H}`, preserveAspectRatio: "none", role: "img", "aria-label": `Label probabilities over ${fmt.secs(d)} (labels outside a window's top-k drawn at 0)` }, grid, lines);
    clear(this.chart).append(chart, el("div", { class: "axis" }, el("span", { text: "0 s" }), el("span", { text: fmt.secs(d) })));
    clear(this.legend).append(...labels.map((label) => {
      const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.background = labelColour(label, this.model?.labels);
      return el("li", {}, swatch, fmt.label(label));
    }));
  }

  addWindowButton(w) {
    const top = topOf(w);
    const button = el("button", {
      type: "button",
      class: "window",
      role: "option",
      tabindex: this.windowRow.children.length === 0 ? 0 : -1,
      "aria-selected": "false",
      "data-index": w.index,
      "aria-label": `Window ${w.index}: ${fmt.secs(w.start_s)}–${fmt.secs(w.end_s)}, ${fmt.label(top.label)} ${fmt.score(top.score)}`,
      title: `${w.index}: ${fmt.secs(w.start_s)}–${fmt.secs(w.end_s)} · ${fmt.label(top.label)}`,
      onclick: () => this.select(w.index),
    });
    button.style.background = labelColour(top.label, this.model?.labels);
    button.style.opacity = String(0.35 + 0.65 * top.score);
    const after = [...this.windowRow.children].find((b) => Number(b.dataset.index) > w.index);
    this.windowRow.insertBefore(button, after ?? null);
  }

  onKey(event) {
    const step = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    const buttons = [...this.windowRow.children];
    const at = buttons.indexOf(document.activeElement);
    const next = Math.min(buttons.length - 1, Math.max(0, (at < 0 ? 0 : at) + step));
    buttons[next]?.focus();
    this.select(Number(buttons[next]?.dataset.index));
  }

  select(index) {
    const w = this.windows[index];
    if (!w) return;
    this.selected = index;
    for (const b of this.windowRow.children) {
      const on = Number(b.dataset.index) === index;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
    }
    this.showDetails(w);
  }

  showDetails(w) {
    const frames = el("div", { class: "strip window-frames" });
    frames.style.setProperty("--cols", String(w.timestamps_s?.length ?? 1));
    const chart = w.frame_importance ? importanceChart(w.frame_importance, w.timestamps_s) : null;
    chart?.style.setProperty("--cols", String(w.frame_importance.length));
    const note = el("p", { class: "hint", text: "Decoding this window's frames in the browser…" });
    clear(this.details).append(
      el("h4", { text: `Window ${w.index}: ${fmt.secs(w.start_s)} – ${fmt.secs(w.end_s)}` }),
      labelBars(w.labels, this.model?.labels),
      el("div", { class: "scroll-x" }, frames, chart),
      note,
    );
    const index = w.index;
    extractFrames(this.file, w.timestamps_s ?? [], this.model?.sampling, 120).then((canvases) => {
      if (this.selected !== index) return;
      if (!canvases) {
        note.textContent = "This browser cannot decode the clip, so the window's frames cannot be shown here.";
        return;
      }
      note.textContent = "Frames as the model sampled them; bars: frame importance within the window.";
      canvases.forEach((canvas, k) => frames.append(
        el("figure", { class: "tile" }, el("div", { class: "frame" }, el("span", { class: "raw" }, canvas)), el("figcaption", { text: fmt.secs(w.timestamps_s[k]) })),
      ));
    });
  }
}
