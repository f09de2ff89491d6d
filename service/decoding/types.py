"""Value types of the decoding package: requests, limits, the packet scan and decoded clips.

All are frozen keyword-only dataclasses: they cross process boundaries (pickled to decoder workers and
back) and must not be mutated once built. Validation happens in ``__post_init__`` so that a bad request
fails where it is built, not deep inside a worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

SamplingPolicy = Literal["uniform", "stride"]

#: Demuxer names accepted by default (FFmpeg ``format_whitelist``). The mov demuxer is named
#: ``mov,mp4,m4a,3gp,3g2,mj2`` and matches ``mov``/``mp4``; Matroska's is ``matroska,webm``.
DEFAULT_CONTAINERS: tuple[str, ...] = ("mov", "mp4", "matroska", "webm", "avi", "mpegts")

#: Audio-only demuxers, admitted only so that an audio upload is answered ``no_video_stream`` rather than
#: ``unsupported_media``: none of them can carry a decodable video stream (cover art is ignored).
AUDIO_CONTAINERS: tuple[str, ...] = ("mp3", "wav", "flac", "aac")


@dataclass(frozen=True, kw_only=True, slots=True)
class DecodeRequest:
    """What the model needs from a clip.

    * ``num_frames`` (T): frames per clip.
    * ``policy``: ``"uniform"`` spreads T frames over the whole clip (segment centres); ``"stride"`` takes
      T frames ``frame_stride`` apart, measured at ``target_fps`` (native frame rate when ``None``),
      centred in the clip (TimeSformer's 8×32 policy: ``num_frames=8, frame_stride=32``).
    * ``short_side``: frames are resized so their shorter side (as displayed) is this many pixels.
    * ``crop_size``: square crop taken after the resize; ``crop_size <= short_side``.
    * ``crops``: 1 = centre crop; 3 = three crops along the long side (start, centre, end).
    * ``num_clips``: how many clips the clip plan spreads over the video (``sampling.plan_clips``); with
      ``crops`` this makes the ``num_clips × crops`` views of multi-view testing. The default is one clip.
    """

    num_frames: int
    policy: SamplingPolicy = "uniform"
    frame_stride: int | None = None
    target_fps: float | None = None
    short_side: int = 224
    crop_size: int = 224
    crops: Literal[1, 3] = 1
    num_clips: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.num_frames <= 1024:
            raise ValueError(f"num_frames must be in [1, 1024], got {self.num_frames}")
        if self.policy not in ("uniform", "stride"):
            raise ValueError(f"policy must be 'uniform' or 'stride', got {self.policy!r}")
        if self.policy == "stride" and (self.frame_stride is None or self.frame_stride < 1):
            raise ValueError("policy 'stride' needs frame_stride >= 1")
        if self.frame_stride is not None and self.frame_stride < 1:
            raise ValueError(f"frame_stride must be >= 1, got {self.frame_stride}")
        if self.target_fps is not None and not 0.0 < self.target_fps <= 1000.0:
            raise ValueError(f"target_fps must be in (0, 1000], got {self.target_fps}")
        if not 8 <= self.short_side <= 2048:
            raise ValueError(f"short_side must be in [8, 2048], got {self.short_side}")
        if not 8 <= self.crop_size <= self.short_side:
            raise ValueError(f"crop_size must be in [8, short_side={self.short_side}], got {self.crop_size}")
        if self.crops not in (1, 3):
            raise ValueError(f"crops must be 1 or 3, got {self.crops}")
        if not 1 <= self.num_clips <= 64:
            raise ValueError(f"num_clips must be in [1, 64], got {self.num_clips}")


@dataclass(frozen=True, kw_only=True, slots=True)
class DecodeLimits:
    """Limits enforced before decoding (header and packet scan) and during it (every frame).

    ``max_pixels`` bounds width×height of the stream header *and* of every decoded frame;
    ``max_frames_decoded`` bounds how many frames one request may make the decoder produce (a long GOP
    forces decoding every frame up to the one sampled); ``max_packets`` bounds the packet scan.
    """

    max_bytes: int = 100 * 1024 * 1024
    max_pixels: int = 4096 * 2304
    max_duration_s: float = 600.0
    max_frames_decoded: int = 3000
    max_packets: int = 100_000
    min_frames: int = 1
    containers: tuple[str, ...] = DEFAULT_CONTAINERS
    audio_containers: tuple[str, ...] = AUDIO_CONTAINERS
    #: Long side / short side as displayed. A 4096×2 frame is only 8 k pixels, but resized to a short side
    #: of 224 it would become a 458,752×224 RGB image (300 MB): refused.
    max_aspect_ratio: float = 8.0
    #: Decoder threads (``thread_type="AUTO"``) only for video with at least this many pixels ...
    threads_min_pixels: int = 1280 * 720
    #: ... and how many (0: FFmpeg's choice, one per core; with several workers, cores / workers).
    decoder_threads: int = 0

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_frames_decoded", "max_packets", "min_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.decoder_threads < 0:
            raise ValueError("decoder_threads must be >= 0")
        if self.max_aspect_ratio < 1.0:
            raise ValueError("max_aspect_ratio must be >= 1")
        if self.max_duration_s <= 0:
            raise ValueError("max_duration_s must be > 0")
        names = (*self.containers, *self.audio_containers)
        if not self.containers or any(not c or "," in c for c in names):
            raise ValueError("containers must be non-empty demuxer names without commas")


@dataclass(frozen=True, kw_only=True, slots=True)
class PacketScan:
    """The chosen video stream's packets, from one demux pass (trusted instead of header frame counts).

    ``pts`` / ``keyframe`` are in decode (file) order, one entry per non-empty packet. ``frame_pts`` is
    the sorted presentation timeline: frame ``i`` of the clip is the packet with the ``i``-th smallest
    pts. Times are in ``time_base`` units.
    """

    pts: tuple[int, ...]
    keyframe: tuple[bool, ...]
    frame_pts: tuple[int, ...]
    time_base: float

    @property
    def count(self) -> int:
        return len(self.frame_pts)

    @property
    def keyframe_count(self) -> int:
        return sum(self.keyframe)


@dataclass(frozen=True, kw_only=True, slots=True)
class SamplingPlan:
    """Frame indices (into the presentation-ordered timeline) and their timestamps, sorted."""

    indices: tuple[int, ...]
    timestamps_s: tuple[float, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class DecodedClip:
    """A decoded, resized and cropped clip, ready for the model.

    ``frames`` is uint8 RGB: ``[T, H, W, 3]`` when ``crops == 1``, ``[crops, T, H, W, 3]`` when
    ``crops == 3`` (crops ordered start, centre, end along the displayed long side). ``indices`` and
    ``timestamps_s`` are the frames actually used (a frame lost to damage is replaced by the next
    decodable one, so they may differ from the plan); timestamps are seconds from the first frame.
    ``width``/``height`` are the original size *as displayed* (after rotation); ``rotation`` is the
    clockwise rotation in degrees that was applied. ``frames_decoded`` and ``packets_failed`` say how much
    work decoding took and how many damaged packets were skipped.
    """

    frames: npt.NDArray[np.uint8]
    indices: tuple[int, ...]
    timestamps_s: tuple[float, ...]
    fps: float
    duration_s: float
    rotation: int
    stream_index: int
    stream_selection: str
    width: int
    height: int
    codec: str
    container: str
    pix_fmt: str | None
    crops: int = 1
    frame_count: int = 0
    frames_decoded: int = 0
    packets_failed: int = 0
    plan: SamplingPlan = field(default_factory=lambda: SamplingPlan(indices=(), timestamps_s=()))
