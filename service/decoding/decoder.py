"""Decode only the frames a sampling plan needs, and turn them into the model's uint8 clip.

The strategy (see ``docs/decoding.md`` in the shared folder for the measurements behind it):

1. one demux pass keeps the chosen stream's packets and their pts/keyframe flags (``scan_packets``);
2. decode forward from the start; when the next wanted frame lies at or after a keyframe that has not
   been sent to the decoder yet, flush the decoder and jump to that keyframe (a seek by pts, done on the
   packets we already hold, so it is exact and costs no demuxing);
3. packets of unwanted frames are sent with ``skip_frame="NONREF"`` (H.264/HEVC): a frame that no other
   frame references and nobody sampled is never decoded (about half the frames of a B-frame stream);
4. each wanted frame is converted once, by ``reformat`` straight to the resize target in RGB, rotated and
   cropped in numpy; frames in between are decoded but never converted;
5. a packet the decoder rejects is skipped (damaged files yield what can be decoded); a wanted frame that
   never comes out is replaced by the next decodable one, or at the end by the last one. Damage seen
   while skipping non-reference frames triggers a second pass without skipping, because concealment
   depends on every frame decoded before the damaged one.

Before decoding, the number of packets the plan will make the decoder consume is computed from the scan
and checked against ``max_frames_decoded``; during decoding every frame's size is checked.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import av.container
import av.video.stream
import numpy as np
import numpy.typing as npt
from av.video.frame import VideoFrame

from service.decoding.container import StreamScan, container_name, open_input, scan_stream
from service.decoding.frames import (
    DECODE_ERRORS,
    SKIP_NONREF_CODECS,
    FrameConverter,
    configure_decoder,
    sample_aspect,
)
from service.decoding.sampling import plan_clips
from service.decoding.source import Source
from service.decoding.transform import crop_into, display_size
from service.decoding.types import DecodedClip, DecodeLimits, DecodeRequest, PacketScan, SamplingPlan
from service.errors import ClipTooLarge, ServiceError, Undecodable


def _keyframe_table(scan: PacketScan) -> tuple[list[int], list[int]]:
    """Keyframes as (running max of pts, decode position), for "last keyframe with pts <= t" lookups."""
    positions = [i for i, key in enumerate(scan.keyframe) if key]
    running: list[int] = []
    best = -(2**62)
    for i in positions:
        best = max(best, scan.pts[i])
        running.append(best)
    return running, positions


@dataclass(frozen=True, kw_only=True, slots=True)
class _Jump:
    target: int  # presentation index
    start: int | None  # decode position to jump to first, or None to continue


def plan_decode(scan: PacketScan, targets: Sequence[int]) -> tuple[list[_Jump], int]:
    """Where to jump for each wanted frame, and how many packets the decoder will consume.

    ``targets`` are sorted, unique presentation indices. A jump is planned only when it skips work: the
    last keyframe at or before the wanted frame lies beyond everything sent so far.
    """
    running, positions = _keyframe_table(scan)
    decode_pos = {pts: i for i, pts in reversed(list(enumerate(scan.pts)))}
    sent_until = 0  # packets [0, sent_until) have been sent
    consumed = 0
    jumps: list[_Jump] = []
    for target in targets:
        target_pts = scan.frame_pts[target]
        k = bisect.bisect_right(running, target_pts) - 1
        start: int | None = None
        if k >= 0 and positions[k] > sent_until:
            start = positions[k]
            sent_until = start
        jumps.append(_Jump(target=target, start=start))
        needed = decode_pos.get(target_pts, sent_until)
        if needed >= sent_until:
            consumed += needed - sent_until + 1
            sent_until = needed + 1
    return jumps, consumed


class _Sampler(FrameConverter):
    """Converts wanted frames and writes their crops into the output array."""

    def __init__(self, request: DecodeRequest, limits: DecodeLimits, sample_aspect: float, t: int) -> None:
        super().__init__(request.short_side, limits, sample_aspect)
        self.request = request
        size = request.crop_size
        shape = (t, size, size, 3) if request.crops == 1 else (request.crops, t, size, size, 3)
        self.out: npt.NDArray[np.uint8] = np.empty(shape, dtype=np.uint8)

    def write(self, t: int, image: npt.NDArray[np.uint8]) -> None:
        crop_into(self.out, t, image, self.request.crop_size, self.request.crops)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Decoded:
    """The outcome of decoding: per target slot, the presentation index of the frame used."""

    used: tuple[int, ...]
    frames_decoded: int
    packets_failed: int
    damaged: bool  # a packet failed or a frame came out corrupt (concealed)


def _frame_index(frame: VideoFrame, scan: PacketScan, last: int) -> int:
    if frame.pts is None:
        return min(last + 1, scan.count - 1)
    return min(bisect.bisect_left(scan.frame_pts, frame.pts), scan.count - 1)


class _Targets:
    """One decoding pass's progress: the wanted frames (``targets``, sorted) and the output slots each
    fills, the frames taken so far, and what the pass cost."""

    def __init__(
        self, scan: PacketScan, indices: Sequence[int], sampler: _Sampler, limits: DecodeLimits
    ) -> None:
        self.scan = scan
        self.sampler = sampler
        self.limits = limits
        self.targets = sorted(set(indices))
        self.slots: dict[int, list[int]] = {}
        for slot, index in enumerate(indices):
            self.slots.setdefault(index, []).append(slot)
        self.used: list[int] = [-1] * len(indices)
        self.next = 0  # targets[:next] are filled
        self.frames_decoded = 0
        self.corrupt_frames = 0
        self.last_index = -1
        self.last_frame: VideoFrame | None = None

    @property
    def done(self) -> bool:
        return self.next == len(self.targets)

    def _fill(self, target: int, image: npt.NDArray[np.uint8], index: int) -> None:
        for slot in self.slots[target]:
            self.sampler.write(slot, image)
            self.used[slot] = index

    def take(self, frames: Sequence[VideoFrame]) -> None:
        """Account for decoded frames (checking the limits) and fill every target they reach."""
        for frame in frames:
            self.frames_decoded += 1
            if self.frames_decoded > self.limits.max_frames_decoded:
                raise ClipTooLarge("decoding the clip needs too many frames")
            if frame.width * frame.height > self.limits.max_pixels:
                raise ClipTooLarge(f"a frame is {frame.width}x{frame.height}, over the pixel limit")
            index = max(_frame_index(frame, self.scan, self.last_index), self.last_index)
            self.last_index, self.last_frame = index, frame
            if frame.is_corrupt:
                self.corrupt_frames += 1
            image: npt.NDArray[np.uint8] | None = None
            while not self.done and self.targets[self.next] <= index:
                if image is None:
                    image = self.sampler.convert(frame)
                self._fill(self.targets[self.next], image, index)
                self.next += 1
            if self.done:
                return

    def hold_last(self) -> None:
        """Wanted frames past the last decodable one (damage at the end) get the last frame."""
        if self.done:
            return
        if self.last_frame is None:
            raise Undecodable("no frame of the video could be decoded")
        image = self.sampler.convert(self.last_frame)
        for target in self.targets[self.next :]:
            self._fill(target, image, self.last_index)


def _decode_targets(
    stream: av.video.stream.VideoStream,
    packets: Sequence[av.Packet[av.video.stream.VideoStream]],
    scan: PacketScan,
    indices: Sequence[int],
    sampler: _Sampler,
    limits: DecodeLimits,
    skip_nonref: bool,
) -> _Decoded:
    """Decode forward (jumping to keyframes per ``plan_decode``) and fill every slot of ``indices``.

    ``skip_nonref``: send packets of unwanted frames with ``skip_frame="NONREF"``.
    """
    state = _Targets(scan, indices, sampler, limits)
    jumps, _ = plan_decode(scan, state.targets)
    context = stream.codec_context
    target_pts = {scan.frame_pts[t] for t in state.targets}
    context.skip_frame = "DEFAULT"  # a previous pass may have left NONREF set
    decoding_all = True
    packets_failed = pos = 0
    while not state.done and pos < len(packets):
        jump = jumps[state.next]
        if jump.start is not None and jump.start > pos:
            context.flush_buffers()
            pos = jump.start
        # a frame nobody wants and nothing references need not be decoded at all
        wanted = not skip_nonref or scan.pts[pos] in target_pts
        if wanted != decoding_all:
            context.skip_frame = "DEFAULT" if wanted else "NONREF"
            decoding_all = wanted
        packet = packets[pos]
        pos += 1
        try:
            frames = context.decode(packet)
        except DECODE_ERRORS:
            packets_failed += 1
            continue
        state.take(frames)
    if not state.done:
        context.skip_frame = "DEFAULT"
        try:
            state.take(context.decode(None))
        except DECODE_ERRORS:
            packets_failed += 1
    state.hold_last()
    return _Decoded(
        used=tuple(state.used),
        frames_decoded=state.frames_decoded,
        packets_failed=packets_failed,
        damaged=packets_failed > 0 or state.corrupt_frames > 0,
    )


@dataclass(frozen=True, kw_only=True)
class _Opened:
    container: av.container.InputContainer
    scanned: StreamScan


def _open_and_scan(data: bytes | BinaryIO, limits: DecodeLimits) -> _Opened:
    container = open_input(data, limits)
    try:
        return _Opened(container=container, scanned=scan_stream(container, limits))
    except BaseException:
        container.close()
        raise


def _clip(opened: _Opened, plan: SamplingPlan, request: DecodeRequest, limits: DecodeLimits) -> DecodedClip:
    stream = opened.scanned.chosen.stream
    skip_nonref = stream.codec_context.name in SKIP_NONREF_CODECS
    sampler = _Sampler(request, limits, sample_aspect(stream), len(plan.indices))
    decoded = _decode_targets(
        stream, opened.scanned.packets, opened.scanned.scan, plan.indices, sampler, limits, skip_nonref
    )
    if decoded.damaged and skip_nonref:
        # how a damaged frame is concealed depends on the frames decoded before it: decode everything
        stream.codec_context.flush_buffers()
        stream.codec_context.skip_frame = "DEFAULT"
        sampler = _Sampler(request, limits, sample_aspect(stream), len(plan.indices))
        decoded = _decode_targets(
            stream, opened.scanned.packets, opened.scanned.scan, plan.indices, sampler, limits, False
        )
    rotation = sampler.rotation or 0
    context = stream.codec_context
    width, height = display_size(int(context.width), int(context.height), rotation, sample_aspect(stream))
    origin = opened.scanned.times[0]
    return DecodedClip(
        frames=sampler.out,
        indices=decoded.used,
        timestamps_s=tuple(opened.scanned.times[i] - origin for i in decoded.used),
        fps=opened.scanned.fps,
        duration_s=opened.scanned.duration_s,
        rotation=rotation,
        stream_index=int(stream.index),
        stream_selection=opened.scanned.chosen.selection,
        width=width,
        height=height,
        codec=str(context.name),
        container=container_name(opened.container),
        pix_fmt=sampler.pix_fmt or context.pix_fmt,
        crops=request.crops,
        frame_count=opened.scanned.scan.count,
        frames_decoded=decoded.frames_decoded,
        packets_failed=decoded.packets_failed,
        plan=plan,
    )


def _check_budget(opened: _Opened, plans: Sequence[SamplingPlan], limits: DecodeLimits) -> None:
    consumed = sum(plan_decode(opened.scanned.scan, sorted(set(plan.indices)))[1] for plan in plans)
    if consumed > limits.max_frames_decoded:
        raise ClipTooLarge(
            f"sampling this clip needs decoding {consumed} frames (limit {limits.max_frames_decoded})"
        )


def decode_clip(data: Source, request: DecodeRequest, limits: DecodeLimits) -> DecodedClip:
    """Decode a one-clip request (``num_clips == 1``): :func:`decode_clips` and its only clip.

    Pure, synchronous, in-process; raises only :class:`~service.errors.ServiceError` subclasses for bad
    input. This is what a decoder worker runs for every upload.
    """
    if request.num_clips != 1:
        raise ValueError(f"decode_clip takes a one-clip request, got num_clips={request.num_clips}")
    (clip,) = decode_clips(data, request, limits)
    return clip


def decode_clips(data: Source, request: DecodeRequest, limits: DecodeLimits) -> tuple[DecodedClip, ...]:
    """Every clip of ``request``'s clip plan (``sampling.plan_clips``: ``num_clips`` clips over the video,
    each with ``crops`` crops), from one demux pass. ``data`` is the upload, or its spooled file's path.

    The frame budget is checked for all clips together before any is decoded; each clip is then decoded
    by its own forward pass over the held packets (clips may overlap).
    """
    if isinstance(data, Path):
        with open(data, "rb") as file:
            return _decode_clips(file, request, limits)
    return _decode_clips(data, request, limits)


def _decode_clips(
    data: bytes | BinaryIO, request: DecodeRequest, limits: DecodeLimits
) -> tuple[DecodedClip, ...]:
    try:
        opened = _open_and_scan(data, limits)
    except ServiceError:
        raise
    except DECODE_ERRORS as exc:
        raise Undecodable() from exc
    try:
        plans = plan_clips(request, opened.scanned.times, opened.scanned.fps)
        _check_budget(opened, plans, limits)
        configure_decoder(opened.scanned.chosen.stream, limits)
        clips: list[DecodedClip] = []
        for plan in plans:
            opened.scanned.chosen.stream.codec_context.flush_buffers()
            clips.append(_clip(opened, plan, request, limits))
        return tuple(clips)
    except ServiceError:
        raise
    except DECODE_ERRORS as exc:
        raise Undecodable() from exc
    finally:
        opened.container.close()
