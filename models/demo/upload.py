"""What a real upload looks like, and how the service turns it into the model's frames.

An `Upload` is a video's outer facts: frame size (landscape, square or portrait), the picture inside it
(letterboxed or pillarboxed when its aspect differs from the frame's), how large the scene is within the
picture (`zoom`), frame rate and length, and the H.264 quality it was encoded at.

The service samples `num_frames` frames uniformly (segment centres, `uniform_indices`) from the decoded
video, resizes the short side and takes the centre square (`video_to_input`). The generator renders only
what that pipeline would keep: `sample_times` gives the clip times of the frames uniform sampling picks
from `source_frames` frames (a 0.5 s, 8 fps upload has 4 frames, so frames repeat as they would in the
service), and `crop_view` gives, for each pixel of the model's square input, the scene coordinates it
shows and whether it lies on the picture or on a black bar. `frame_view` does the same for the whole
uploaded frame (rendered in full for the H.264 round trip).

Scene coordinates: the centre square of the picture, times `zoom`, is [0, 1]² (x right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Rng = np.random.Generator
Array = np.ndarray

FRAME_RATES: tuple[float, ...] = (8.0, 10.0, 12.0, 15.0, 24.0, 25.0, 30000 / 1001, 30.0, 50.0, 60.0)
# frame aspect (w / h) of common uploads, and how often each is drawn
ASPECTS: tuple[float, ...] = (4 / 3, 16 / 9, 1.0, 3 / 4, 9 / 16, 21 / 9)
ASPECT_P: tuple[float, ...] = (0.3, 0.35, 0.1, 0.07, 0.13, 0.05)
CRFS: tuple[int, ...] = (18, 23, 28, 33, 38, 43)


@dataclass(frozen=True, kw_only=True)
class Upload:
    """width, height: the frame in pixels (even); content_w/h: the picture inside it (bars around; its
    short side is at least 0.55 of the frame's, e.g. 16:9 inside a 9:16 phone frame);
    zoom: the scene square's side in units of the picture's short side; crf: H.264 quality (lower is
    better); bars: the colour of the bars (grey level)."""

    width: int
    height: int
    content_w: float
    content_h: float
    fps: float
    seconds: float
    zoom: float = 1.0
    crf: int = 23
    bars: float = 0.0

    @property
    def source_frames(self) -> int:
        return max(2, round(self.seconds * self.fps))

    @property
    def letterboxed(self) -> bool:
        return self.content_w < self.width - 1 or self.content_h < self.height - 1

    def sample_times(self, num_frames: int) -> Array:
        """Clip times in [0, 1] of the frames that uniform sampling picks from the decoded video."""
        return (uniform_indices(self.source_frames, num_frames) + 0.5) / self.source_frames


_INNER_ASPECTS: tuple[float, ...] = (4 / 3, 16 / 9, 2.35, 1.0, 9 / 16)


def _kept(inner: float, outer: float) -> float:
    """The picture's short side over the frame's when a picture of aspect `inner` is boxed in `outer`."""
    w, h = (outer, 1.0) if outer >= 1 else (1.0, 1.0 / outer)
    cw, ch = (w, w / inner) if inner > outer else (h * inner, h)
    return min(cw, ch) / min(w, h)


def _even(v: float) -> int:
    return max(2, round(v / 2.0) * 2)


def draw_upload(rng: Rng, difficulty: float, *, short_side: tuple[int, int] = (240, 720)) -> Upload:
    """A random upload: aspect, letterbox (up to 30 % of clips), zoom, frame rate, 0.5–8 s, quality; the
    picture fills the frame at full scale on the easiest clips."""
    d = float(np.clip(difficulty, 0.0, 1.0))
    aspect = float(rng.choice(ASPECTS, p=ASPECT_P))
    short = int(rng.integers(short_side[0], short_side[1] + 1))
    w, h = (_even(short * aspect), _even(short)) if aspect >= 1 else (_even(short), _even(short / aspect))
    cw, ch = float(w), float(h)
    if rng.random() < 0.3 * d:  # the picture has another aspect: bars top/bottom or left/right
        inner = float(
            rng.choice([a for a in _INNER_ASPECTS if abs(a - w / h) > 0.1 and _kept(a, w / h) >= 0.55])
        )
        cw, ch = (float(w), w / inner) if inner > w / h else (h * inner, float(h))
    zoom = 1.0 if rng.random() < 1.0 - 0.6 * d else float(rng.uniform(0.75, 1.0 + 0.35 * d))
    fps = float(rng.choice(FRAME_RATES))
    seconds = float(np.exp(rng.uniform(np.log(0.5), np.log(8.0))))
    crf = int(rng.choice(CRFS[: 3 + round(3 * d)]))
    bars = 0.0 if rng.random() < 0.85 else float(rng.uniform(0.0, 0.3))
    return Upload(
        width=w, height=h, content_w=cw, content_h=ch, fps=fps, seconds=seconds, zoom=zoom, crf=crf, bars=bars
    )


@dataclass(frozen=True, kw_only=True)
class View:
    """A raster and the scene it shows: pixel (row, col) centres sit at scene (cols[col], rows[row]);
    unit_px: raster pixels per scene unit; content: [H, W] 1 on the picture, 0 on bars (soft edge)."""

    cols: Array
    rows: Array
    unit_px: float
    content: Array

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)

    def to_pixels(self, x: Array, y: Array) -> Array:
        """Scene coordinates -> raster pixel coordinates (x, y) with pixel centres at +0.5: [..., 2]."""
        px = (x - self.cols[0]) * self.unit_px + 0.5
        py = (y - self.rows[0]) * self.unit_px + 0.5
        return np.stack([px, py], axis=-1)


def _view(upload: Upload, fx: Array, fy: Array, frame_px: float) -> View:
    """A view whose pixel centres lie at frame coordinates fx (columns), fy (rows); frame_px: raster
    pixels per frame pixel."""
    unit = upload.zoom * min(upload.content_w, upload.content_h)  # scene unit in frame pixels
    cols = 0.5 + (fx - upload.width / 2.0) / unit
    rows = 0.5 + (fy - upload.height / 2.0) / unit
    in_x = np.clip((upload.content_w / 2.0 - np.abs(fx - upload.width / 2.0)) * frame_px + 0.5, 0.0, 1.0)
    in_y = np.clip((upload.content_h / 2.0 - np.abs(fy - upload.height / 2.0)) * frame_px + 0.5, 0.0, 1.0)
    content = in_y[:, None] * in_x[None, :]
    return View(cols=cols, rows=rows, unit_px=unit * frame_px, content=content.astype(np.float32))


def crop_view(upload: Upload, size: int) -> View:
    """The model's input: the frame's centre square (side = short side), resized to `size`²."""
    short = min(upload.width, upload.height)
    step = short / size
    fx = (upload.width - short) / 2.0 + (np.arange(size) + 0.5) * step
    fy = (upload.height - short) / 2.0 + (np.arange(size) + 0.5) * step
    return _view(upload, fx, fy, 1.0 / step)


def frame_view(upload: Upload) -> View:
    """The whole uploaded frame at its own resolution."""
    return _view(upload, np.arange(upload.width) + 0.5, np.arange(upload.height) + 0.5, 1.0)


def scaled(upload: Upload, short_side: int) -> Upload:
    """The same upload with its frame scaled to `short_side` pixels (for cheap H.264 round trips)."""
    k = short_side / min(upload.width, upload.height)
    return Upload(
        width=_even(upload.width * k),
        height=_even(upload.height * k),
        content_w=upload.content_w * k,
        content_h=upload.content_h * k,
        fps=upload.fps,
        seconds=upload.seconds,
        zoom=upload.zoom,
        crf=upload.crf,
        bars=upload.bars,
    )


# --- what the service does with a decoded video -------------------------------------------------------


def uniform_indices(num_source: int, num_frames: int) -> Array:
    """Centres of `num_frames` equal segments spanning `num_source` frames (the card's `uniform`)."""
    return np.minimum(
        ((np.arange(num_frames) + 0.5) * num_source / num_frames).astype(np.int64), num_source - 1
    )


def resize_short_side_center_crop(frames: Array, size: int) -> Array:
    """uint8 [T, H, W, 3] -> [T, size, size, 3]: short side to `size` (bilinear, antialiased), centre crop."""
    from PIL import Image

    _, h, w, _ = frames.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    top, left = (nh - size) // 2, (nw - size) // 2
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        img = Image.fromarray(frame).resize((nw, nh), Image.Resampling.BILINEAR)
        out[i] = np.asarray(img)[top : top + size, left : left + size]
    return out


def video_to_input(frames: Array, num_frames: int, image_size: int) -> Array:
    """A decoded video -> the model's uint8 clip [T, S, S, 3] (uniform sampling, resize, crop)."""
    return resize_short_side_center_crop(frames[uniform_indices(len(frames), num_frames)], image_size)


# --- camera --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Camera:
    """Sensor and optics: Gaussian noise (sigma in [0, 1] units; `chroma`: drawn per channel, else the
    same for the three channels like luminance noise), per-frame gain flicker (sd), salt-and-pepper
    (share of pixels), and a Gaussian blur of `blur` scene units (defocus, or a soft downscale)."""

    noise: float = 0.0
    chroma: bool = True
    flicker: float = 0.0
    salt: float = 0.0
    blur: float = 0.0


def draw_camera(rng: Rng, difficulty: float, *, max_blur: float = 1.0) -> Camera:
    """Noise up to 0.08, flicker up to 3 %, blur in 5–55 % of clips (at most `max_blur` scene units,
    so a small object is softened, never erased)."""
    d = float(np.clip(difficulty, 0.0, 1.0))
    blur = float(rng.uniform(0.005, 0.012 + 0.025 * d)) if rng.random() < 0.05 + 0.5 * d else 0.0
    blur = min(blur, max_blur)
    return Camera(
        noise=float(rng.uniform(0.0, 0.01 + 0.07 * d)),
        chroma=bool(rng.random() < 0.5),
        flicker=float(rng.uniform(0.0, 0.03 * d)),
        salt=float(rng.uniform(0.0, 0.004)) if rng.random() < 0.05 + 0.1 * d else 0.0,
        blur=blur,
    )


def gaussian_blur(frames: Array, sigma_px: float) -> Array:
    """PIL's Gaussian blur of each uint8 frame [T, H, W, 3] (frames unchanged below 0.25 px)."""
    if sigma_px < 0.25:
        return frames
    from PIL import Image, ImageFilter

    blur = ImageFilter.GaussianBlur(sigma_px)
    return np.stack([np.asarray(Image.fromarray(frame).filter(blur)) for frame in frames])


_NOISE_BANK: list[Array] = []


def gaussian_noise(rng: Rng, shape: tuple[int, ...]) -> Array:
    """Standard normal float32 noise of `shape` [T, ...]: each frame a random window of a fixed bank of
    2²² draws (a slice instead of fresh draws: ~10× cheaper; windows overlap too rarely to matter)."""
    if not _NOISE_BANK:
        _NOISE_BANK.append(np.random.default_rng(20_261_130).standard_normal(2**22, dtype=np.float32))
    bank = _NOISE_BANK[0]
    per_frame = int(np.prod(shape[1:]))
    if per_frame > len(bank) // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    frames_per_window = max(1, (len(bank) // 2) // per_frame)
    parts = []
    for first in range(0, shape[0], frames_per_window):
        count = min(frames_per_window, shape[0] - first) * per_frame
        start = int(rng.integers(0, len(bank) - count))
        parts.append(bank[start : start + count])
    return np.concatenate(parts).reshape(shape) if len(parts) > 1 else parts[0].reshape(shape)


def apply_camera(video: Array, camera: Camera, unit_px: float, rng: Rng) -> Array:
    """Gain flicker, noise and salt-and-pepper on a float32 video [T, H, W, 3] in [0, 1] (in place where it
    can), then 8 bits, then the blur (the softness of the picture: defocus or a soft downscale; blurring
    the 8-bit frames is 3× cheaper). Returns uint8 frames."""
    t, h, w, _ = video.shape
    if camera.flicker > 0:
        video *= (1.0 + rng.normal(0.0, camera.flicker, size=(t, 1, 1, 1))).astype(np.float32)
    if camera.noise > 0:
        video += gaussian_noise(rng, (t, h, w, 3 if camera.chroma else 1)) * np.float32(camera.noise)
    if camera.salt > 0:
        hit = rng.random((t, h, w, 1), dtype=np.float32)
        video = np.where(hit < camera.salt / 2, 0.0, np.where(hit > 1 - camera.salt / 2, 1.0, video))
    return gaussian_blur(to_uint8(video), camera.blur * unit_px)


def to_uint8(video: Array) -> Array:
    """A float video in [0, 1] as uint8 (rounded, clipped; the float array is reused)."""
    video = np.asarray(video, dtype=np.float32)
    video *= np.float32(255.0)
    video += np.float32(0.5)
    return np.clip(video, 0, 255, out=video).astype(np.uint8)
