"""10-bit and full-range sources convert to the same RGB as 8-bit limited-range ones."""

from __future__ import annotations

import io

import av
import numpy as np
import numpy.typing as npt
import pytest

from service.decoding import DecodeLimits, DecodeRequest, decode_clip
from tests.service.decoding.synth import encode_clip

COLOURS = np.array([[200, 40, 40], [40, 180, 60], [50, 60, 210], [128, 128, 128]], dtype=np.uint8)
CORNERS = [(0, 0), (0, 32), (32, 0), (32, 32)]
REQUEST = DecodeRequest(num_frames=1, short_side=64, crop_size=64)


def _blocks() -> npt.NDArray[np.uint8]:
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    for colour, (y, x) in zip(COLOURS, CORNERS, strict=True):
        image[y : y + 32, x : x + 32] = colour
    return image


def _block_means(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    return np.array([frame[y + 8 : y + 24, x + 8 : x + 24].reshape(-1, 3).mean(0) for y, x in CORNERS])


VARIANTS = [
    ("libx264", "yuv420p", {"qp": "0"}),
    ("libx264", "yuvj420p", {"qp": "0"}),  # full range
    ("libx264", "yuv420p10le", {"qp": "0"}),  # High 10
    # Main 10. bframes=0: with B-frames, the packets FFmpeg's libx265 wrapper flushes for a 2-frame clip
    # sometimes carry an uninitialised dts (about -2**62), which the mp4 muxer refuses; it failed one CI run.
    ("libx265", "yuv420p10le", {"x265-params": "lossless=1:bframes=0:log-level=none"}),
]


@pytest.mark.parametrize(("codec", "pix_fmt", "options"), VARIANTS, ids=[f"{c}-{p}" for c, p, _ in VARIANTS])
def test_pixel_formats_convert_to_the_same_rgb(codec: str, pix_fmt: str, options: dict[str, str]) -> None:
    image = _blocks()
    data = encode_clip(
        width=64, height=64, codec=codec, pix_fmt=pix_fmt, options=options, rgb_frames=[image] * 2
    )
    clip = decode_clip(data, REQUEST, DecodeLimits())
    assert clip.pix_fmt == pix_fmt
    error = np.abs(_block_means(clip.frames[0]) - COLOURS).max()
    assert error <= 3.0, f"{pix_fmt}: colours off by {error:.1f}"


def test_full_range_read_as_limited_would_be_caught() -> None:
    """The tolerance above is tight enough to see a range mix-up (what the test guards against)."""
    image = _blocks()
    data = encode_clip(width=64, height=64, pix_fmt="yuvj420p", options={"qp": "0"}, rgb_frames=[image] * 2)
    with av.open(io.BytesIO(data), mode="r") as container:
        frame = next(container.decode(video=0))
        planes = frame.to_ndarray()  # the raw full-range YUV planes
        wrong = av.VideoFrame.from_ndarray(planes, format="yuv420p").to_ndarray(format="rgb24")
    assert wrong.dtype == np.uint8
    assert np.abs(_block_means(wrong) - COLOURS).max() > 10  # type: ignore[arg-type]
