// One prediction as a panel: labels, the frames strip with spatial attention, frame importance, the
// temporal attention matrix, clip facts and timings.

import { Cancelled, getImageUrl } from "./api.js";
import { attentionMatrix, facts, importanceChart, labelBars } from "./charts.js";
import { el, fmt, uniqueId } from "./dom.js";
import { extractFrames } from "./frames.js";

const GRID_COLUMNS = 4; // the heatmap grid's tiles per row (service/heatmap.py DEFAULT_COLUMNS)

/** "TimeSformer · divided attention · 8×32² · onnxruntime (CPU)" for a /v1/models entry. */
export function describeModel(model) {
  const s = model.sampling;
  const size = s ? `${s.num_frames} frames × ${s.crop_size}²` : "";
  const runtime = model.runtime ? `${model.runtime}${model.provider ? ` (${model.provider})` : ""}` : "";
  return [model.architecture, model.attention && `${model.attention} attention`, size, runtime]
    .filter(Boolean)
    .join(" · ");
}

function section(title, ...children) {
  const id = uniqueId("h");
  return el("section", { class: "block", "aria-labelledby": id }, el("h4", { id, text: title }), ...children);
}

/** Position one grid tile: the whole grid image, scaled and shifted so tile `k` fills the frame. */
function placeTile(img, k, count) {
  const cols = Math.min(GRID_COLUMNS, count);
  const rows = Math.ceil(count / cols);
  img.style.width = `${cols * 100}%`;
  img.style.height = `${rows * 100}%`;
  img.style.left = `${-(k % cols) * 100}%`;
  img.style.top = `${-Math.floor(k / cols) * 100}%`;
}

function overlayControls(strip) {
  const toggleId = uniqueId("toggle");
  const sliderId = uniqueId("opacity");
  const toggle = el("input", { id: toggleId, type: "checkbox", checked: true });
  const slider = el("input", { id: sliderId, type: "range", min: 0, max: 100, value: 70, step: 5 });
  const apply = () => {
    strip.style.setProperty("--overlay-opacity", String(slider.value / 100));
    strip.classList.toggle("overlay-off", !toggle.checked);
    const noFrames = strip.classList.contains("no-frames");
    toggle.disabled = noFrames;
    slider.disabled = noFrames || !toggle.checked;
  };
  toggle.addEventListener("change", apply);
  slider.addEventListener("input", apply);
  apply();
  const controls = el(
    "div",
    { class: "overlay-controls" },
    el("span", { class: "control" }, toggle, el("label", { for: toggleId, text: "Show spatial attention" })),
    el("span", { class: "control" }, el("label", { for: sliderId, text: "Overlay opacity" }), slider),
  );
  return { controls, apply, toggle };
}

function tileFigure(k, timestampS, importance) {
  const frame = el("div", { class: "frame" });
  const caption = el("figcaption", {
    text: `#${k} · ${fmt.secs(timestampS)}${importance === undefined ? "" : ` · ${importance.toFixed(2)}`}`,
  });
  return { figure: el("figure", { class: "tile" }, frame, caption), frame };
}

async function fillStrip(tiles, prediction, model, file, note, controls) {
  const count = tiles.length;
  const timestamps = prediction.attention.timestamps_s;
  const [url, frames] = await Promise.all([
    getImageUrl(prediction.links.heatmap),
    extractFrames(file, timestamps, model?.sampling),
  ]);
  tiles.forEach(({ frame }, k) => {
    if (frames) frame.append(el("span", { class: "raw" }, frames[k]));
    const img = el("img", { class: "heat", alt: `frame ${k} with its spatial attention`, src: url });
    placeTile(img, k, count);
    frame.append(img);
  });
  if (!frames) {
    note.textContent =
      "This browser cannot decode the clip itself, so the frames are shown as the server rendered them " +
      "(attention blended in); the opacity control needs the browser's own frames.";
    tiles[0]?.frame.closest(".strip")?.classList.add("no-frames");
    controls.apply();
  }
  return url;
}

function framesSection(prediction, model, file, onUrl) {
  const attention = prediction.attention;
  const strip = el("div", { class: "strip" });
  const note = el("p", { class: "hint" });
  if (!attention) {
    const img = el("img", { class: "grid", alt: "the sampled frames" });
    note.textContent = "This model returned no attention; the sampled frames as the server rendered them.";
    getImageUrl(prediction.links.heatmap).then((url) => {
      img.src = url;
      onUrl(url);
    }, (err) => showError(note, err));
    return section("Sampled frames", note, img);
  }
  const n = attention.timestamps_s.length;
  strip.style.setProperty("--cols", String(n));
  const tiles = attention.timestamps_s.map((t, k) => tileFigure(k, t, attention.frame_importance[k]));
  strip.append(...tiles.map((tile) => tile.figure));
  const chart = importanceChart(attention.frame_importance, attention.timestamps_s);
  chart.style.setProperty("--cols", String(n));
  const overlay = overlayControls(strip);
  note.textContent = "Loading frames and attention…";
  fillStrip(tiles, prediction, model, file, note, overlay).then((url) => {
    onUrl(url);
    if (note.textContent.startsWith("Loading")) note.textContent = "";
  }, (err) => showError(note, err));
  return section(
    "Frames and where the model looked",
    overlay.controls,
    el("div", { class: "scroll-x" }, strip, chart),
    el("p", { class: "hint", text: "Bars: frame importance, the share of temporal attention each frame receives." }),
    note,
  );
}

function showError(node, err) {
  if (err instanceof Cancelled) return;
  node.textContent = `Could not load the heatmap: ${err.message}${err.code ? ` (${err.code})` : ""}`;
  node.classList.add("error-text");
}

function clipFacts(clip) {
  return facts([
    ["duration", fmt.secs(clip.duration_s)],
    ["frame rate", `${clip.fps.toFixed(2)} fps`],
    ["size", `${clip.width} × ${clip.height}`],
    ["rotation", `${clip.rotation}°`],
    ["video stream", `#${clip.stream}`],
    ["frames sampled", `${clip.frame_indices.length}`],
  ]);
}

function timingFacts(t, clientMs) {
  return facts([
    ["upload", clientMs?.upload === undefined ? null : fmt.ms(clientMs.upload)],
    ["decode", fmt.ms(t.decode)],
    ["queue", fmt.ms(t.queue)],
    ["inference", fmt.ms(t.inference)],
    ["server total", fmt.ms(t.total)],
    ["round trip", clientMs?.roundTrip === undefined ? null : fmt.ms(clientMs.roundTrip)],
  ]);
}

/**
 * The panel for one prediction. `model` is its /v1/models entry (may be undefined), `file` the uploaded
 * clip, `clientMs` {upload, roundTrip}. Blob URLs created for it are passed to `onUrl` for revoking.
 */
export function resultPanel(prediction, model, { file, clientMs, onUrl = () => {} } = {}) {
  const top = prediction.labels[0];
  const titleId = uniqueId("result");
  const panel = el(
    "article",
    { class: "result", "aria-labelledby": titleId, "data-model": prediction.model.name },
    el(
      "header",
      { class: "result-head" },
      el("h3", { id: titleId, text: `${prediction.model.name} ` }, el("small", { text: `v${prediction.model.version}` })),
      model ? el("p", { class: "model-facts", text: describeModel(model) }) : null,
      top ? el("p", { class: "verdict", text: `${fmt.label(top.label)} · ${fmt.pct(top.score)}` }) : null,
    ),
    section("Labels", labelBars(prediction.labels, model?.labels)),
    framesSection(prediction, model, file, onUrl),
  );
  if (prediction.attention) {
    panel.append(section("Temporal attention", attentionMatrix(prediction.attention.temporal, prediction.attention.timestamps_s)));
  }
  panel.append(
    el(
      "div",
      { class: "two-col" },
      section("Clip", clipFacts(prediction.clip)),
      section("Timings", timingFacts(prediction.timings_ms, clientMs)),
    ),
  );
  return panel;
}
