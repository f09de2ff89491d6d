"""Opening untrusted uploads safely, choosing the video stream, and scanning its packets.

Defences, all confirmed by the hostile-input tests in ``tests/service/decoding/test_hostile.py``:

* the bytes reach FFmpeg as an anonymous ``BytesIO`` (no file name, so nothing is resolved relative to
  it); the container's format is never forced;
* ``format_whitelist`` admits only the demuxers in :attr:`DecodeLimits.containers` (plus a few audio-only
  ones, so audio uploads get ``no_video_stream``); HLS, ffconcat, image pipes, ... are refused before they
  can open anything;
* ``protocol_whitelist`` is empty, so a demuxer that tries to open another URL or file (HLS segments,
  concat entries) is refused whatever it names;
* the decoders FFmpeg opens while probing stream parameters skip every frame (``skip_frame=all``), and
  the one we decode with gets ``max_pixels``, so a header declaring 8192×8192 is never allocated;
* limits on bytes, width×height, duration and packet count are checked from the header and during the
  packet scan, before any frame is decoded.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO, Literal

import av
import av.container
import av.error
import av.stream
import av.video.stream

from service.decoding.source import AnonymousFile, file_size
from service.decoding.transform import aspect_ratio
from service.decoding.types import DecodeLimits, PacketScan
from service.errors import ClipTooLarge, ClipTooLong, ClipTooShort, NoVideoStream, UnsupportedMedia

StreamSelection = Literal["only", "best", "largest"]

_EXCLUDED_DISPOSITIONS = av.stream.Disposition.attached_pic | av.stream.Disposition.still_image


def open_input(data: bytes | BinaryIO, limits: DecodeLimits) -> av.container.InputContainer:
    """Open ``data`` (bytes, or an open spooled file, handed over without its name) with the container
    allowlist, no protocols, and the pixel limit for probing."""
    size = len(data) if isinstance(data, bytes) else file_size(data)
    if size == 0:
        raise UnsupportedMedia("the upload is empty")
    if size > limits.max_bytes:
        raise ClipTooLarge(f"the upload is larger than {limits.max_bytes} bytes")
    try:
        return av.open(
            io.BytesIO(data) if isinstance(data, bytes) else AnonymousFile(data),
            mode="r",
            # Codec options for the decoders avformat_find_stream_info opens while probing: parse headers,
            # decode nothing (a header declaring 8192×8192 would otherwise be decoded right here, and
            # with ``max_pixels`` instead FFmpeg forgets the declared size, hiding the bomb).
            options={"skip_frame": "all"},
            container_options={
                "format_whitelist": ",".join((*limits.containers, *limits.audio_containers)),
                "protocol_whitelist": "",
            },
            metadata_errors="replace",
        )
    except Exception as exc:  # any failure to open untrusted bytes means "not a video we accept"
        raise UnsupportedMedia() from exc


@dataclass(frozen=True, kw_only=True, slots=True)
class ChosenStream:
    """The one video stream a request decodes, and how it was chosen."""

    stream: av.video.stream.VideoStream
    selection: StreamSelection
    video_stream_count: int


def _pixels(stream: av.video.stream.VideoStream) -> int:
    context = stream.codec_context
    return int(context.width) * int(context.height) if context is not None else 0


def select_video_stream(container: av.container.InputContainer) -> ChosenStream:
    """Exactly one video stream: the only one, else FFmpeg's best, else the one with the most pixels.

    Streams without a codec context (seen in fuzzed WebM) and cover-art/still-image streams don't count.
    """
    candidates = [
        s
        for s in container.streams.video
        if s.codec_context is not None and not (s.disposition & _EXCLUDED_DISPOSITIONS)
    ]
    if not candidates:
        raise NoVideoStream()
    if len(candidates) == 1:
        return ChosenStream(stream=candidates[0], selection="only", video_stream_count=1)
    try:
        best = container.streams.best("video")
    except Exception:  # FFmpeg found no usable stream; fall back to our own rule
        best = None
    if best is not None and any(best is s for s in candidates):
        assert isinstance(best, av.video.stream.VideoStream)
        return ChosenStream(stream=best, selection="best", video_stream_count=len(candidates))
    largest = max(candidates, key=_pixels)
    return ChosenStream(stream=largest, selection="largest", video_stream_count=len(candidates))


def check_header(stream: av.video.stream.VideoStream, limits: DecodeLimits) -> None:
    """Refuse from the header alone: declared width×height or aspect ratio over the limits."""
    context = stream.codec_context
    if context is None:
        raise NoVideoStream()
    if _pixels(stream) > limits.max_pixels:
        raise ClipTooLarge(f"the video is {context.width}x{context.height}, over the pixel limit")
    if (
        _pixels(stream) > 0
        and aspect_ratio(int(context.width), int(context.height)) > limits.max_aspect_ratio
    ):
        raise ClipTooLarge(f"the video is {context.width}x{context.height}, over the aspect-ratio limit")


def _fraction_to_float(value: Fraction | None) -> float:
    if value is None or value.denominator == 0:
        return 0.0
    result = float(value)
    return result if math.isfinite(result) and result > 0 else 0.0


def scan_packets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    limits: DecodeLimits,
    *,
    keep_packets: bool = True,
) -> tuple[PacketScan, list[av.Packet[av.video.stream.VideoStream]]]:
    """Demux the stream once: packet pts and keyframe flags (decode order) and the packets themselves.

    The packets are kept so that decoding can start at any keyframe without asking the demuxer to seek;
    with ``keep_packets=False`` (timelines, which demux again while decoding forward) none are kept.
    Duration and packet count are checked as the scan goes; a demuxing error ends the scan (a truncated
    or damaged file keeps what was read before it).
    """
    time_base = _fraction_to_float(stream.time_base) or 1.0 / 90_000
    max_span = limits.max_duration_s / time_base
    packets: list[av.Packet[av.video.stream.VideoStream]] = []
    pts_list: list[int] = []
    keyframes: list[bool] = []
    first: int | None = None
    previous = -1
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            pts = packet.pts if packet.pts is not None else packet.dts
            if pts is None:
                pts = previous + 1
            previous = pts
            if first is None:
                first = pts
            if abs(pts - first) > max_span:
                raise ClipTooLong(f"the clip is longer than {limits.max_duration_s:g} s")
            if len(pts_list) >= limits.max_packets:
                raise ClipTooLarge(f"the clip has more than {limits.max_packets} frames")
            if keep_packets:
                packets.append(packet)
            pts_list.append(pts)
            keyframes.append(bool(packet.is_keyframe))
    except (av.error.FFmpegError, OSError, ValueError, EOFError):
        pass  # damaged or truncated: keep what was read
    if len(pts_list) < limits.min_frames:
        raise ClipTooShort(
            f"the clip has {len(pts_list)} frame(s); at least {limits.min_frames} needed"
            if pts_list
            else "the video stream holds no frames"
        )
    scan = PacketScan(
        pts=tuple(pts_list), keyframe=tuple(keyframes), frame_pts=tuple(sorted(pts_list)), time_base=time_base
    )
    return scan, packets


def stream_fps(stream: av.video.stream.VideoStream, scan: PacketScan) -> float:
    """Frames per second: the stream's average rate, else its guessed rate, else from the scan."""
    for rate in (stream.average_rate, stream.guessed_rate):
        fps = _fraction_to_float(rate)
        if 0 < fps <= 1000:
            return fps
    span = (scan.frame_pts[-1] - scan.frame_pts[0]) * scan.time_base
    if scan.count > 1 and span > 0:
        return (scan.count - 1) / span
    return 0.0


def scan_duration_s(scan: PacketScan, fps: float) -> float:
    """Duration from the scan: first to last frame, plus one frame."""
    span = (scan.frame_pts[-1] - scan.frame_pts[0]) * scan.time_base
    return span + (1.0 / fps if fps > 0 else 0.0)


def frame_times_s(scan: PacketScan) -> tuple[float, ...]:
    """Presentation time of every frame, seconds, in frame order."""
    tb = scan.time_base
    return tuple(p * tb for p in scan.frame_pts)


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamScan:
    """The chosen video stream of an open container, its header checked and its packets scanned."""

    chosen: ChosenStream
    scan: PacketScan
    packets: list[av.Packet[av.video.stream.VideoStream]]  # empty unless kept
    fps: float
    duration_s: float
    times: tuple[float, ...]  # each frame's presentation time, in display order


def scan_stream(
    container: av.container.InputContainer, limits: DecodeLimits, *, keep_packets: bool = True
) -> StreamScan:
    """Select the video stream, check its header against `limits`, scan its packets (kept for decoding
    when `keep_packets`) and derive fps, duration and frame times: the steps every decode starts with."""
    chosen = select_video_stream(container)
    check_header(chosen.stream, limits)
    scan, packets = scan_packets(container, chosen.stream, limits, keep_packets=keep_packets)
    fps = stream_fps(chosen.stream, scan)
    return StreamScan(
        chosen=chosen,
        scan=scan,
        packets=packets,
        fps=fps,
        duration_s=scan_duration_s(scan, fps),
        times=frame_times_s(scan),
    )


def container_name(container: av.container.InputContainer) -> str:
    """The demuxer's name, e.g. ``mov,mp4,m4a,3gp,3g2,mj2`` or ``matroska,webm``."""
    return str(container.format.name)
