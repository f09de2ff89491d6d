"""Write frames to a real H.264/MP4 file (and read one back) with PyAV.

The bundled FFmpeg has `libx264`; H.264 with yuv420p needs even frame sizes, so `write_mp4` rejects odd
ones rather than silently cropping.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, cast

import av
import numpy as np

Target = str | Path | BinaryIO


def write_mp4(
    frames: np.ndarray,
    target: Target | None = None,
    fps: float = 30.0,
    *,
    crf: int = 23,
    codec: str = "libx264",
) -> bytes | None:
    """Encode uint8 RGB frames [T, H, W, 3] as H.264 (yuv420p) in an MP4 container.

    `target` is a path or a writable binary file object; with `None` the encoded bytes are returned.
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
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            ):
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
