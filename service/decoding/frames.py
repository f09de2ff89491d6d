"""A video stream's decoded frames as the model's pixels, the same for single clips (`decoding.decoder`)
and timelines (`decoding.forward`): decoder options, the stream's sample aspect, and converting a wanted
frame once (straight to the resize target in RGB, then rotated upright)."""

from __future__ import annotations

from typing import cast

import av.error
import av.video.stream
import numpy as np
import numpy.typing as npt
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter

from service.decoding.transform import aspect_ratio, display_size, normalize_rotation, resize_target, rotate
from service.decoding.types import DecodeLimits
from service.errors import ClipTooLarge

#: Decoders whose ``skip_frame="NONREF"`` drops exactly the frames no other frame references (checked
#: bit-exact against a full decode by the tests). Not libdav1d: with it a sampled AV1 frame went missing.
SKIP_NONREF_CODECS = frozenset({"h264", "hevc"})

#: What a damaged packet or frame raises while decoding (the packet is skipped, the damage counted).
DECODE_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError, MemoryError)


def configure_decoder(stream: av.video.stream.VideoStream, limits: DecodeLimits) -> None:
    """Decoder options: the pixel limit, and threads for large video."""
    context = stream.codec_context
    context.options = {"max_pixels": str(limits.max_pixels)}
    if int(context.width) * int(context.height) >= limits.threads_min_pixels:
        context.thread_type = "AUTO"
        context.thread_count = limits.decoder_threads


def sample_aspect(stream: av.video.stream.VideoStream) -> float:
    """The stream's sample (pixel) aspect ratio; 1.0 when unset or implausible."""
    sar = stream.codec_context.sample_aspect_ratio
    if sar is None or sar.numerator <= 0 or sar.denominator <= 0:
        return 1.0
    value = float(sar)
    return value if 0.1 <= value <= 10.0 else 1.0


class FrameConverter:
    """Converts a wanted frame once: RGB at the resize target, rotated upright. Remembers the first
    frame's rotation and pixel format (what the clip reports)."""

    def __init__(self, short_side: int, limits: DecodeLimits, sample_aspect: float) -> None:
        self.short_side = short_side
        self.limits = limits
        self.sample_aspect = sample_aspect
        self.reformatter = VideoReformatter()
        self.rotation: int | None = None
        self.pix_fmt: str | None = None

    def convert(self, frame: VideoFrame) -> npt.NDArray[np.uint8]:
        """RGB at the resize target, rotated upright (a view of a fresh array)."""
        width, height = frame.width, frame.height
        display_w, _ = display_size(width, height, 0, self.sample_aspect)
        if aspect_ratio(display_w, height) > self.limits.max_aspect_ratio:
            raise ClipTooLarge(f"a frame is {display_w}x{height} as displayed, over the aspect-ratio limit")
        target_w, target_h = resize_target(display_w, height, self.short_side)
        # one scaler thread: the frames are small after the resize, and workers already run in parallel
        rgb = self.reformatter.reformat(frame, width=target_w, height=target_h, format="rgb24", threads=1)
        image = cast(npt.NDArray[np.uint8], rgb.to_ndarray())
        rotation = normalize_rotation(frame.rotation)
        if self.rotation is None:
            self.rotation = rotation
            self.pix_fmt = frame.format.name
        return rotate(image, rotation)
