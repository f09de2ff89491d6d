"""Write frames to a real H.264/MP4 file (and read one back) with PyAV.

The bundled FFmpeg has `libx264`; H.264 with yuv420p needs even frame sizes, so `write_mp4` rejects odd
ones rather than silently cropping. Frames are converted to yuv420p here (`rgb_to_yuv420p`, BT.601 like
FFmpeg's default): the conversion PyAV does inside `encode` gave different files for the same frames from
one call to the next. With that and `reproducible=True` the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import functools
import hashlib
import io
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, cast

import av
import numpy as np

Target = str | Path | BinaryIO


# BT.601, limited range: what FFmpeg's scaler uses for RGB -> yuv420p and back by default
_YUV = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0


def rgb_to_yuv420p(frame: np.ndarray) -> np.ndarray:
    """uint8 RGB [H, W, 3] (even sizes) -> uint8 planar yuv420p [H * 3 / 2, W] (Y, then U, then V)."""
    h, w, _ = frame.shape
    yuv = frame.astype(np.float32) @ _YUV.T.astype(np.float32) + np.array([16.0, 128.0, 128.0], np.float32)
    chroma = yuv[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean((1, 3))  # 2x2 averages: [h/2, w/2, 2]
    planes = [yuv[..., 0].reshape(-1), chroma[..., 0].reshape(-1), chroma[..., 1].reshape(-1)]
    return np.clip(np.concatenate(planes) + 0.5, 0, 255).astype(np.uint8).reshape(h * 3 // 2, w)


def write_mp4(
    frames: np.ndarray,
    target: Target | None = None,
    fps: float = 30.0,
    *,
    crf: int = 23,
    codec: str = "libx264",
    reproducible: bool = False,
) -> bytes | None:
    """Encode uint8 RGB frames [T, H, W, 3] as H.264 (yuv420p) in an MP4 container.

    `target` is a path or a writable binary file object; with `None` the encoded bytes are returned.
    `reproducible`: the same frames always give the same bytes. libx264's macroblock-tree rate control
    does not (the file changes from one call to the next, with any thread count), so it is turned off.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 [T, H, W, 3] frames, got {frames.dtype} {frames.shape}")
    _t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 with yuv420p needs even sizes, got {w}x{h}")
    buffer = io.BytesIO() if target is None else None
    out: str | BinaryIO
    if isinstance(target, str | Path):
        out = str(target)
    else:
        out = target if target is not None else cast(BinaryIO, buffer)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(out, mode="w", format="mp4") as container:
        stream = cast(av.VideoStream, container.add_stream(codec, rate=rate))
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        options: dict[str, object] = {"crf": str(crf), "preset": "veryfast"}
        if reproducible:
            options["x264-params"] = "mbtree=0"
        stream.options = options
        for frame in frames:
            yuv = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frame), format="yuv420p")
            for packet in stream.encode(yuv):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue() if buffer is not None else None


def read_video(source: str | Path | bytes | BinaryIO) -> tuple[np.ndarray, float]:
    """Decode every frame of a video: (uint8 RGB [T, H, W, 3], average fps)."""
    src: str | BinaryIO = (
        io.BytesIO(source)
        if isinstance(source, bytes)
        else (str(source) if isinstance(source, str | Path) else source)
    )
    with av.open(src, mode="r") as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else 0.0
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return np.stack(frames), fps


@functools.lru_cache(maxsize=1)
def encoder_fingerprint() -> str:
    """A digest of what `write_mp4(..., reproducible=True)` makes of fixed frames: it changes with the
    conversion, the options or the FFmpeg build, and names caches of encoded clips."""
    ramp = np.linspace(0, 255, 6 * 32 * 48 * 3).astype(np.uint8).reshape(6, 32, 48, 3)
    frames = np.roll(ramp, 7, axis=2) // 2 + ramp[:, ::-1] // 2
    return hashlib.sha256(write_mp4(frames, None, 24.0, crf=30, reproducible=True) or b"").hexdigest()[:8]
