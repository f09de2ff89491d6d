"""``probe``: what an upload is, checked against the limits, decoding at most its first frame."""

from __future__ import annotations

import av.error
import av.video.stream
from av.video.frame import VideoFrame

from service.decoding.container import (
    check_header,
    container_name,
    open_input,
    scan_duration_s,
    scan_packets,
    select_video_stream,
    stream_fps,
)
from service.decoding.transform import display_size, normalize_rotation
from service.decoding.types import DecodeLimits, ProbeResult
from service.errors import ServiceError, Undecodable

_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError, MemoryError)


def _first_frame(
    stream: av.video.stream.VideoStream, packets: list[av.Packet], limits: DecodeLimits
) -> VideoFrame | None:
    context = stream.codec_context
    context.options = {"max_pixels": str(limits.max_pixels)}
    for packet in packets[: limits.max_frames_decoded]:
        try:
            frames = context.decode(packet)
        except _ERRORS:
            continue
        if frames:
            return frames[0]
    try:
        frames = context.decode(None)
    except _ERRORS:
        return None
    return frames[0] if frames else None


def _bit_depth(pix_fmt: str | None) -> int | None:
    if not pix_fmt:
        return None
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.error.FFmpegError):
        return None
    return max((c.bits for c in fmt.components), default=None)


def probe(data: bytes, limits: DecodeLimits) -> ProbeResult:
    """Container, chosen video stream (and why), codec, size, pixel format, rotation, fps, duration and
    the packet scan's frame/keyframe counts. Raises only :class:`~service.errors.ServiceError`."""
    container = open_input(data, limits)
    try:
        chosen = select_video_stream(container)
        stream = chosen.stream
        check_header(stream, limits)
        scan, packets = scan_packets(container, stream, limits)
        fps = stream_fps(stream, scan)
        frame = _first_frame(stream, packets, limits)
        if frame is None:
            raise Undecodable("no frame of the video could be decoded")
        context = stream.codec_context
        rotation = normalize_rotation(frame.rotation)
        sar = context.sample_aspect_ratio
        aspect = float(sar) if sar is not None and sar.numerator > 0 and sar.denominator > 0 else 1.0
        coded_w, coded_h = int(context.width) or frame.width, int(context.height) or frame.height
        width, height = display_size(coded_w, coded_h, rotation, aspect)
        pix_fmt = context.pix_fmt or frame.format.name
        color_range = {1: "limited", 2: "full"}.get(int(frame.color_range))
        return ProbeResult(
            container=container_name(container),
            stream_index=int(stream.index),
            stream_selection=chosen.selection,
            video_stream_count=chosen.video_stream_count,
            codec=str(context.name),
            pix_fmt=pix_fmt,
            coded_width=coded_w,
            coded_height=coded_h,
            width=width,
            height=height,
            rotation=rotation,
            fps=fps,
            duration_s=scan_duration_s(scan, fps),
            frame_count=scan.count,
            keyframe_count=scan.keyframe_count,
            start_s=scan.frame_pts[0] * scan.time_base,
            bit_depth=_bit_depth(pix_fmt),
            color_range=color_range,
        )
    except ServiceError:
        raise
    except _ERRORS as exc:
        raise Undecodable() from exc
    finally:
        container.close()
