"""Synthetic and hostile clips built in memory with PyAV's own encoders and muxers (no files, no network).

Shared by the decoding tests and the fuzz target (``bench/fuzz_decode.py`` builds its own seeds).
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import av.video.stream
import numpy as np
import numpy.typing as npt
from PIL import Image


def pattern(width: int, height: int, index: int) -> npt.NDArray[np.uint8]:
    """An RGB frame that differs from frame to frame: a gradient plus a bright box that moves."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    frame[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    frame[..., 2] = (index * 7) % 256
    box = max(4, min(width, height) // 6)
    x0 = (index * 5) % max(width - box, 1)
    y0 = (index * 3) % max(height - box, 1)
    frame[y0 : y0 + box, x0 : x0 + box] = 255
    return frame


def encode_clip(
    *,
    width: int = 64,
    height: int = 48,
    frames: int = 30,
    fps: int = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    container: str = "mp4",
    gop: int | None = None,
    options: dict[str, str] | None = None,
    rgb_frames: list[npt.NDArray[np.uint8]] | None = None,
    rotation: int | None = None,
) -> bytes:
    """Encode a clip into bytes. ``rotation`` (counter-clockwise, PyAV's convention) sets the display
    matrix; ``rgb_frames`` overrides the moving pattern."""
    buf = io.BytesIO()
    opts = {"preset": "ultrafast"} if codec.startswith("libx26") else {}
    opts.update(options or {})
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=fps, options=opts)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        n = len(rgb_frames) if rgb_frames is not None else frames
        for i in range(n):
            rgb = rgb_frames[i] if rgb_frames is not None else pattern(width, height, i)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def many_frames(count: int, fps: int, *, all_keyframes: bool, container: str = "mp4") -> bytes:
    """A small file with ``count`` 16×16 H.264 frames, made by muxing encoded packets over and over.

    ``all_keyframes``: every packet is the same intra frame (cheap to sample anywhere); otherwise one
    intra frame followed by the same skip-coded inter frame, i.e. a single GOP of ``count`` frames.
    """
    source = av.open(io.BytesIO(encode_clip(width=16, height=16, frames=2, gop=250)), mode="r")
    intra, inter = [p for p in source.demux(video=0) if p.size][:2]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        stream.time_base = Fraction(1, fps)
        for i in range(count):
            key = all_keyframes or i == 0
            packet = av.Packet(bytes(intra if key else inter))
            packet.pts = packet.dts = i
            packet.duration = 1
            packet.time_base = Fraction(1, fps)
            packet.is_keyframe = key
            packet.stream = stream
            out.mux(packet)
    source.close()
    return buf.getvalue()


def jpeg_bytes(width: int = 16, height: int = 16, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pattern(width, height, 0)).save(buf, format=fmt)
    return buf.getvalue()


def jpeg_declaring(width: int, height: int) -> bytes:
    """A 16×16 JPEG whose frame header (SOF0) is patched to claim ``width``×``height``."""
    data = bytearray(jpeg_bytes())
    sof = data.find(b"\xff\xc0")
    assert sof > 0, "baseline JPEG expected"
    data[sof + 5 : sof + 7] = height.to_bytes(2, "big")
    data[sof + 7 : sof + 9] = width.to_bytes(2, "big")
    return bytes(data)


def mjpeg_bomb(
    *, header_size: tuple[int, int], frame_size: tuple[int, int], frames: int = 3, container: str = "matroska"
) -> bytes:
    """An MJPEG clip of tiny JPEGs whose container header says ``header_size`` and whose JPEG frame
    headers say ``frame_size`` (a decompression bomb either way, a few KB on disk)."""
    jpeg = jpeg_declaring(*frame_size)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_mux_stream("mjpeg", rate=25, width=header_size[0], height=header_size[1])
        stream.time_base = Fraction(1, 25)
        for i in range(frames):
            packet = av.Packet(jpeg)
            packet.pts = packet.dts = i
            packet.duration = 1
            packet.time_base = Fraction(1, 25)
            packet.is_keyframe = True
            packet.stream = stream
            out.mux(packet)
    return buf.getvalue()


def hls_playlist(url: str) -> bytes:
    return (
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{url}\n#EXT-X-ENDLIST\n"
    ).encode()


def ffconcat_list(url: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{url}'\nduration 1\n".encode()


HTML = (
    b"<!DOCTYPE html><html><head><title>x</title></head><body>"
    b"<video src='http://127.0.0.1/a.mp4'></video></body></html>\n"
)
