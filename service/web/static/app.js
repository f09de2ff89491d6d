// The page's controller: API key, model choice, the clip, and the three modes (one model, two models side
// by side, the timeline of a long video). Every failure ends up visible in #message or in its panel.

import { ApiError, Cancelled, NdjsonLines, apiKey, getJson, postClip, withRetry } from "./api.js";
import { clear, el, fmt } from "./dom.js";
import { describeModel, resultPanel } from "./result.js";
import { TimelineView } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const state = { models: [], file: null, controller: null, urls: [], timelines: true };

// --- messages and progress -----------------------------------------------------------------------------

function showMessage(text, kind = "error") {
  const box = $("message");
  box.hidden = false;
  box.className = `message ${kind}`;
  box.append(el("p", { text }));
}

function clearMessages() {
  const box = $("message");
  clear(box).hidden = true;
}

function describeError(err, who) {
  if (err instanceof ApiError) {
    const where = err.status ? ` (HTTP ${err.status}, ${err.code})` : "";
    return `${who ? `${who}: ` : ""}${err.message}${where}`;
  }
  return `${who ? `${who}: ` : ""}unexpected error in the page: ${err?.message ?? err}`;
}

function waitText(left, err, attempt) {
  return `${err.message} (HTTP 503, ${err.code}). Retrying in ${left} s — attempt ${attempt + 1}.`;
}

function progressRow(title) {
  const bar = el("progress", { max: 100, value: 0, "aria-label": `${title} progress` });
  const text = el("span", { class: "job-text", text: "Starting…" });
  const row = el("div", { class: "job" }, el("strong", { text: title }), bar, text);
  $("progress").append(row);
  let timer = null;
  const stopTimer = () => timer && clearInterval(timer);
  return {
    upload(sent, total) {
      bar.value = total ? (100 * sent) / total : 0;
      text.textContent = `Uploading ${fmt.pct(total ? sent / total : 0)} (${fmt.bytes(sent)} of ${fmt.bytes(total)})`;
      if (total && sent >= total && !timer) this.processing();
    },
    processing() {
      const started = performance.now();
      bar.removeAttribute("value");
      timer = setInterval(() => {
        text.textContent = `Processing on the server… ${((performance.now() - started) / 1000).toFixed(1)} s`;
      }, 100);
    },
    windows(got, total) {
      stopTimer();
      bar.max = total || 1;
      bar.value = got;
      text.textContent = `Streaming: ${got}${total ? ` of ${total}` : ""} windows`;
    },
    waiting(left, err, attempt) {
      stopTimer();
      timer = null;
      bar.value = 0;
      row.classList.add("waiting");
      text.textContent = left > 0 ? `Server busy: ${waitText(left, err, attempt)}` : "Retrying now…";
    },
    finish(message, ok = true) {
      stopTimer();
      row.classList.remove("waiting");
      row.classList.add(ok ? "ok" : "failed");
      bar.max = 100;
      bar.value = 100;
      text.textContent = message;
    },
  };
}

// --- models, key, timeline availability --------------------------------------------------------------------

function fillSelect(select, models, chosen) {
  clear(select).append(...models.map((m) => el("option", { value: m.name, text: `${m.name} — ${m.attention || m.architecture}` })));
  select.value = chosen;
  select.disabled = models.length === 0;
}

function showModelFacts() {
  for (const side of ["a", "b"]) {
    const model = state.models.find((m) => m.name === $(`model-${side}`).value);
    $(`model-${side}-facts`).textContent = model ? describeModel(model) : "";
  }
}

async function loadModels() {
  $("model-a").disabled = true;
  try {
    // a starting server answers 503 until its models are loaded: keep waiting, visibly
    const answer = await withRetry(() => getJson("/v1/models"), {
      maxRetries: Infinity,
      onWait: (left, err, attempt) => {
        clearMessages();
        if (left > 0) showMessage(`Loading models: ${waitText(left, err, attempt)}`, "info");
      },
    });
    clearMessages();
    state.models = answer.models;
    const other = answer.models.find((m) => m.name !== answer.default) ?? answer.models[0];
    fillSelect($("model-a"), answer.models, answer.default);
    fillSelect($("model-b"), answer.models, other?.name);
    showModelFacts();
  } catch (err) {
    clearMessages();
    showMessage(describeError(err, "Loading the models"));
    if (err instanceof ApiError && err.status === 401) {
      showMessage("Enter the API key above, then press “Use key”.", "info");
      $("api-key").focus();
    }
  }
  updateControls();
}

function hideTimelines(reason) {
  state.timelines = false;
  $("mode-timeline-wrap").hidden = true;
  if ($("mode-timeline").checked) $("mode-single").checked = true;
  const note = $("timeline-note");
  note.hidden = false;
  note.textContent = reason;
  updateControls();
}

async function probeTimelines() {
  try {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    if (!response.ok) return; // no schema to ask: the timeline mode stays, and a 404 from it hides it
    const schema = await response.json();
    if (!schema.paths?.["/v1/timelines"]?.post) {
      hideTimelines("Timeline mode is hidden: this server has no /v1/timelines endpoint (it answers 404).");
    }
  } catch {
    // the schema could not be read; the mode stays and a 404 hides it
  }
}

function setupKey() {
  const showKeyState = () => {
    $("key-state").textContent = apiKey.get() ? "A key is set for this tab (sent as a Bearer header)." : "No key set.";
  };
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    apiKey.set($("api-key").value.trim());
    $("api-key").value = "";
    showKeyState();
    loadModels();
  });
  $("forget-key").addEventListener("click", () => {
    apiKey.set("");
    showKeyState();
  });
  showKeyState();
}

// --- controls --------------------------------------------------------------------------------------------

function mode() {
  return document.querySelector('input[name="mode"]:checked')?.value ?? "single";
}

function updateControls() {
  const m = mode();
  $("model-b-field").hidden = m !== "compare";
  $("window-field").hidden = m !== "timeline";
  $("stride-field").hidden = m !== "timeline";
  $("run").textContent = { single: "Classify", compare: "Compare", timeline: "Build timeline" }[m];
  $("run").disabled = Boolean(state.controller) || !state.file || state.models.length === 0;
}

function chooseFile(file) {
  state.file = file ?? null;
  $("file-facts").textContent = file ? `${file.name} · ${fmt.bytes(file.size)}${file.type ? ` · ${file.type}` : ""}` : "";
  updateControls();
}

function setupFile() {
  $("file").addEventListener("change", () => chooseFile($("file").files[0]));
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer?.files?.[0];
    if (file) chooseFile(file);
  });
  // a file dropped beside the box must not make the browser navigate away from the page
  for (const name of ["dragover", "drop"]) window.addEventListener(name, (event) => event.preventDefault());
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== "" && value !== undefined) search.set(key, value);
  return search.toString();
}

// --- runs ------------------------------------------------------------------------------------------------

async function predict(modelName, signal) {
  const row = progressRow(modelName);
  const started = performance.now();
  let uploaded = null;
  try {
    const text = await withRetry(
      () => postClip(`/v1/predictions?${query({ model: modelName, top_k: $("top-k").value })}`, state.file, {
        signal,
        onUpload: (sent, total) => {
          row.upload(sent, total);
          if (total && sent >= total && uploaded === null) uploaded = performance.now() - started;
        },
      }),
      { signal, onWait: (left, err, attempt) => row.waiting(left, err, attempt) },
    );
    const prediction = JSON.parse(text);
    const roundTrip = performance.now() - started;
    row.finish(`Done in ${fmt.ms(roundTrip)}`);
    const model = state.models.find((m) => m.name === prediction.model.name);
    const onUrl = (url) => state.urls.push(url);
    return resultPanel(prediction, model, { file: state.file, clientMs: { upload: uploaded ?? undefined, roundTrip }, onUrl });
  } catch (err) {
    row.finish(err instanceof Cancelled ? "Cancelled" : `Failed: ${err.message}`, false);
    throw err;
  }
}

async function runPredictions(names, signal) {
  const results = $("results");
  results.classList.toggle("compare", names.length > 1);
  const settled = await Promise.allSettled(names.map((name) => predict(name, signal)));
  settled.forEach((outcome, i) => {
    if (outcome.status === "fulfilled") {
      results.append(outcome.value);
    } else if (!(outcome.reason instanceof Cancelled)) {
      const text = describeError(outcome.reason, names[i]);
      showMessage(text);
      results.append(el("article", { class: "result failed", "data-model": names[i] }, el("h3", { text: names[i] }), el("p", { class: "error-text", text })));
    }
  });
}

async function runTimeline(signal) {
  const model = state.models.find((m) => m.name === $("model-a").value);
  const container = $("timeline");
  container.hidden = false;
  const row = progressRow(`${model.name} timeline`);
  let view = null;
  let parser = null;
  let streamError = null;
  const feed = (objects) => {
    for (const line of objects) {
      try {
        streamError = view.handle(line) ?? streamError;
      } catch (err) {
        streamError = { code: "page_error", message: `the page could not draw a ${line?.type} line: ${err.message}` };
      }
    }
    row.windows(view.received(), view.head?.windows);
  };
  const params = query({ model: model.name, top_k: $("top-k").value, window_s: $("window-s").value, stride_s: $("stride-s").value });
  try {
    const text = await withRetry(() => {
      view = new TimelineView(container, model, state.file);
      parser = new NdjsonLines();
      return postClip(`/v1/timelines?${params}`, state.file, {
        signal,
        onUpload: (sent, total) => row.upload(sent, total),
        onText: (soFar) => feed(parser.push(soFar)),
      });
    }, { signal, onWait: (left, err, attempt) => row.waiting(left, err, attempt) });
    feed(parser.rest(text));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && err.code === "not_found") {
      container.hidden = true;
      hideTimelines("Timeline mode is hidden: this server answered 404 for /v1/timelines.");
    }
    row.finish(err instanceof Cancelled ? "Cancelled" : `Failed: ${err.message}`, false);
    throw err;
  }
  if (streamError) {
    row.finish(`Stopped: ${streamError.message}`, false);
    showMessage(`Timeline: ${streamError.message} (${streamError.code})`);
  } else if (view.container.dataset.state !== "done") {
    row.finish("The stream ended before its last line", false);
    showMessage("Timeline: the server's answer ended before its “done” line; what arrived is shown.");
  } else {
    row.finish(`Done: ${view.received()} windows`);
  }
}

function resetOutput() {
  clearMessages();
  clear($("progress"));
  clear($("results"));
  $("timeline").hidden = true;
  for (const url of state.urls.splice(0)) URL.revokeObjectURL(url);
}

async function run() {
  if (!state.file || state.controller) return;
  resetOutput();
  const controller = new AbortController();
  state.controller = controller;
  $("cancel").hidden = false;
  updateControls();
  const m = mode();
  try {
    if (m === "timeline") await runTimeline(controller.signal);
    else await runPredictions(m === "compare" ? [$("model-a").value, $("model-b").value] : [$("model-a").value], controller.signal);
  } catch (err) {
    if (err instanceof Cancelled) showMessage("Cancelled.", "info");
    else showMessage(describeError(err, m === "timeline" ? "Timeline" : ""));
  } finally {
    state.controller = null;
    $("cancel").hidden = true;
    updateControls();
  }
}

function init() {
  setupKey();
  setupFile();
  for (const radio of document.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", updateControls);
  $("model-a").addEventListener("change", showModelFacts);
  $("model-b").addEventListener("change", showModelFacts);
  $("run").addEventListener("click", run);
  $("cancel").addEventListener("click", () => state.controller?.abort());
  window.addEventListener("unhandledrejection", (event) => showMessage(describeError(event.reason, "Unexpected")));
  window.addEventListener("error", (event) => showMessage(describeError(event.error ?? event.message, "Unexpected")));
  updateControls();
  loadModels();
  probeTimelines();
}

init();
