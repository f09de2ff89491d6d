// The vtserve HTTP API as the page uses it: the API key, JSON calls, uploads with progress, streamed
// NDJSON answers, heatmaps as blob URLs, and the 503 + Retry-After retry.

const KEY_STORAGE = "vtserve.apiKey";
const MAX_RETRIES = 5;

/** An error as the API words it: `{"error": {"code", "message", "retryable"}}` plus the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message, { retryable = false, retryAfterS = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryable = retryable;
    this.retryAfterS = retryAfterS;
  }
}

export class Cancelled extends Error {
  constructor() {
    super("cancelled");
    this.name = "Cancelled";
  }
}

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_STORAGE) || "",
  set: (value) => (value ? sessionStorage.setItem(KEY_STORAGE, value) : sessionStorage.removeItem(KEY_STORAGE)),
};

function authHeaders() {
  const key = apiKey.get();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function retryAfter(value) {
  const seconds = Number.parseInt(value ?? "", 10);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}

/** The ApiError for a non-2xx answer; a body that is not the error envelope keeps the status line. */
export function errorFrom(status, statusText, bodyText, retryAfterHeader) {
  const after = retryAfter(retryAfterHeader);
  try {
    const { error } = JSON.parse(bodyText);
    if (error && typeof error.message === "string") {
      return new ApiError(status, error.code ?? "error", error.message, {
        retryable: Boolean(error.retryable),
        retryAfterS: after,
      });
    }
  } catch {
    // not JSON: fall through
  }
  const text = (bodyText || "").trim().slice(0, 200);
  return new ApiError(status, "http_error", `HTTP ${status} ${statusText || ""}${text ? `: ${text}` : ""}`.trim(), {
    retryable: status >= 500,
    retryAfterS: after,
  });
}

function networkError() {
  return new ApiError(0, "network_error", "The server could not be reached (network error).", { retryable: true });
}

/** GET a JSON document from the API. */
export async function getJson(path, { signal } = {}) {
  let response;
  try {
    response = await fetch(path, { headers: { ...authHeaders(), Accept: "application/json" }, signal });
  } catch (err) {
    if (err.name === "AbortError") throw new Cancelled();
    throw networkError();
  }
  const text = await response.text();
  if (!response.ok) throw errorFrom(response.status, response.statusText, text, response.headers.get("Retry-After"));
  return JSON.parse(text);
}

/** GET an image with the Authorization header; resolves to a blob: URL (revoke it when done). */
export async function getImageUrl(path, { signal } = {}) {
  let response;
  try {
    response = await fetch(path, { headers: authHeaders(), signal });
  } catch (err) {
    if (err.name === "AbortError") throw new Cancelled();
    throw networkError();
  }
  if (!response.ok) {
    const text = await response.text();
    throw errorFrom(response.status, response.statusText, text, response.headers.get("Retry-After"));
  }
  return URL.createObjectURL(await response.blob());
}

/**
 * POST a clip as multipart `file`. `onUpload(sentBytes, totalBytes)` reports upload progress and
 * `onText(textSoFar)` the answer while it streams in. Resolves with the whole answer text.
 */
export function postClip(path, file, { onUpload, onText, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (e) => onUpload?.(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.upload.addEventListener("load", () => onUpload?.(file.size, file.size));
    xhr.addEventListener("progress", () => {
      if (xhr.status >= 200 && xhr.status < 300) onText?.(xhr.responseText);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onText?.(xhr.responseText);
        resolve(xhr.responseText);
      } else {
        reject(errorFrom(xhr.status, xhr.statusText, xhr.responseText, xhr.getResponseHeader("Retry-After")));
      }
    });
    xhr.addEventListener("error", () => reject(networkError()));
    xhr.addEventListener("abort", () => reject(new Cancelled()));
    if (signal) {
      if (signal.aborted) return reject(new Cancelled());
      signal.addEventListener("abort", () => xhr.abort(), { once: true });
    }
    const form = new FormData();
    form.append("file", file, file.name || "clip");
    xhr.send(form);
  });
}

/** Splits streamed text into complete NDJSON lines; `push(textSoFar)` returns the new parsed objects. */
export class NdjsonLines {
  constructor() {
    this.offset = 0;
  }

  push(text) {
    const out = [];
    let end = text.indexOf("\n", this.offset);
    while (end !== -1) {
      const line = text.slice(this.offset, end).trim();
      this.offset = end + 1;
      if (line) out.push(parseLine(line));
      end = text.indexOf("\n", this.offset);
    }
    return out;
  }

  /** The last line when the stream ended without a newline after it. */
  rest(text) {
    const line = text.slice(this.offset).trim();
    this.offset = text.length;
    return line ? [parseLine(line)] : [];
  }
}

/** One NDJSON line; a line that is not JSON becomes an error line, so the page says so. */
function parseLine(line) {
  try {
    return JSON.parse(line);
  } catch {
    const message = `the server sent a line that is not JSON: ${line.slice(0, 80)}`;
    return { type: "error", error: { code: "bad_stream", message, retryable: false } };
  }
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new Cancelled());
    }, { once: true });
  });
}

/**
 * Run `task()`; on 503 with Retry-After wait that long, calling `onWait(secondsLeft, error, attempt)`
 * every second so the page can show a countdown, then try again (at most `maxRetries` times).
 */
export async function withRetry(task, { onWait, signal, maxRetries = MAX_RETRIES } = {}) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await task();
    } catch (err) {
      const waitS = err instanceof ApiError && err.status === 503 ? err.retryAfterS : null;
      if (waitS === null || attempt > maxRetries) throw err;
      for (let left = Math.max(1, waitS); left > 0; left -= 1) {
        onWait?.(left, err, attempt);
        await sleep(1000, signal);
      }
      onWait?.(0, err, attempt);
    }
  }
}
