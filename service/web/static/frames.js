// The user's own clip, decoded by the browser: the frames the model saw, cropped as the model crops them
// (short side resized, centre square), to lie under the server's attention overlay.
// Returns null when this browser cannot decode the clip (e.g. HEVC in Chromium): the page then shows the
// server's overlay alone and says so.

const TIMEOUT_MS = 8000;

function once(target, ok, fail, timeoutMs = TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(reject, new Error("timed out")), timeoutMs);
    const onOk = () => done(resolve);
    const onFail = () => done(reject, new Error(`video ${fail}`));
    function done(settle, value) {
      clearTimeout(timer);
      target.removeEventListener(ok, onOk);
      target.removeEventListener(fail, onFail);
      settle(value);
    }
    target.addEventListener(ok, onOk);
    target.addEventListener(fail, onFail);
  });
}

/** The centre square the model sees, in the video's displayed pixels. */
export function cropRect(width, height, sampling) {
  const short = Math.min(width, height);
  const scale = sampling && sampling.short_side > 0 ? Math.min(1, sampling.crop_size / sampling.short_side) : 1;
  const side = short * scale;
  return { x: (width - side) / 2, y: (height - side) / 2, side };
}

function drawFrame(video, sampling, size) {
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  const { x, y, side } = cropRect(video.videoWidth, video.videoHeight, sampling);
  canvas.getContext("2d").drawImage(video, x, y, side, side, 0, 0, size, size);
  return canvas;
}

/**
 * Canvases (size × size) of `file` at each time in `timestampsS` (seconds from the first frame), or null
 * when the browser cannot decode the file.
 */
export async function extractFrames(file, timestampsS, sampling, size = 160) {
  if (!file || !timestampsS?.length) return null;
  const url = URL.createObjectURL(file);
  const video = document.createElement("video");
  video.muted = true;
  video.preload = "auto";
  video.playsInline = true;
  try {
    video.src = url;
    await once(video, "loadeddata", "error");
    if (!video.videoWidth || !video.videoHeight) return null;
    const frames = [];
    const last = Number.isFinite(video.duration) ? Math.max(0, video.duration - 0.001) : Infinity;
    for (const t of timestampsS) {
      video.currentTime = Math.min(t + 0.001, last);
      await once(video, "seeked", "error");
      frames.push(drawFrame(video, sampling, size));
    }
    return frames;
  } catch {
    return null;
  } finally {
    video.removeAttribute("src");
    video.load();
    URL.revokeObjectURL(url);
  }
}
