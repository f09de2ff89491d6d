"""Decoding a timeline: one packet scan plans every window, then one forward pass decodes them in order.

:func:`decode_windows` is a generator: it yields the :class:`~service.decoding.windows.TimelinePlan` first,
then one :class:`~service.decoding.windows.DecodedWindow` per window, in order, as soon as the forward pass
has reached that window's last sampled frame. Memory is bounded by the window, not the video:

* the scan keeps packet timestamps only (``scan_packets(keep_packets=False)``), never the packets;
* the decoding pass demuxes the file again and drops each packet once decoded (forward only, no seeking);
* a sampled frame is converted once (straight to the resize target) and kept only while a window still
  needs it, so frames shared by overlapping windows are decoded and converted once;
* packets of frames nobody samples are sent with ``skip_frame="NONREF"`` (H.264/HEVC), as in
  ``decoding.decoder``; after a damaged packet everything is decoded.

The same defences as single clips apply (``container.open_input``: container allowlist, no protocols,
the file handed over without its name; header and per-frame size limits). Each packet is decoded at most
once, so the work is bounded by the scan's packet limit and the timeline's duration limit.
"""

from __future__ import annotations

import bisect
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace

import av
import av.container
import av.error
import av.video.stream
import numpy as np
import numpy.typing as npt
from av.video.frame import VideoFrame

from service.decoding.container import open_input, scan_stream
from service.decoding.frames import (
    DECODE_ERRORS,
    SKIP_NONREF_CODECS,
    FrameConverter,
    configure_decoder,
    sample_aspect,
)
from service.decoding.source import Source, open_source
from service.decoding.transform import crop_into, display_size
from service.decoding.types import DecodeLimits, PacketScan
from service.decoding.windows import DecodedWindow, TimelinePlan, WindowRequest, WindowSpec, plan_windows
from service.errors import ClipTooLarge, ServiceError, Undecodable

Stream = av.video.stream.VideoStream


def timeline_limits(limits: DecodeLimits, request: WindowRequest) -> DecodeLimits:
    """The decoder's limits with the timeline's own duration and size caps."""
    return replace(limits, max_duration_s=request.max_duration_s, max_bytes=request.max_bytes)


def _open(source: Source, limits: DecodeLimits, stack: ExitStack) -> av.container.InputContainer:
    data = open_source(source)
    if not isinstance(data, bytes):
        stack.callback(data.close)
    container = open_input(data, limits)
    stack.callback(container.close)
    return container


def _scan(source: Source, request: WindowRequest, limits: DecodeLimits) -> tuple[TimelinePlan, PacketScan]:
    """Open, check the header, scan the packets (timestamps only) and plan every window."""
    with ExitStack() as stack:
        container = _open(source, limits, stack)
        found = scan_stream(container, limits, keep_packets=False)
        plan = plan_windows(
            found.times, found.fps, found.duration_s, request, stream_index=int(found.chosen.stream.index)
        )
        return plan, found.scan


@dataclass(kw_only=True)
class _Progress:
    """Where the forward pass is: targets filled so far and what the current window cost."""

    next: int = 0  # targets[:next] hold an image
    window: int = 0  # the next window to hand out
    frames_decoded: int = 0  # since the previous window
    packets_failed: int = 0  # since the previous window
    last_index: int = -1
    last_frame: VideoFrame | None = None


class _Forward:
    """The forward pass over one stream: fills the sampled frames in order and hands out ready windows."""

    def __init__(
        self,
        plan: TimelinePlan,
        scan: PacketScan,
        stream: Stream,
        request: WindowRequest,
        limits: DecodeLimits,
    ) -> None:
        self.plan, self.scan, self.stream, self.limits = plan, scan, stream, limits
        self.crop = request.clip.crop_size
        self.targets = sorted({i for w in plan.windows for i in w.indices})
        self.target_pts = frozenset(scan.frame_pts[t] for t in self.targets)
        self.images: dict[int, npt.NDArray[np.uint8]] = {}  # target -> image of the frame used
        self.used: dict[int, int] = {}  # target -> the frame actually used
        self.converter = FrameConverter(request.clip.short_side, limits, sample_aspect(stream))
        self.at = _Progress()

    @property
    def filled(self) -> bool:
        return self.at.next == len(self.targets)

    def _index(self, frame: VideoFrame) -> int:
        if frame.pts is None:
            return min(self.at.last_index + 1, self.scan.count - 1)
        return min(bisect.bisect_left(self.scan.frame_pts, frame.pts), self.scan.count - 1)

    def take(self, frame: VideoFrame) -> None:
        """Account for one decoded frame and fill every target it reaches (the first frame at or after a
        target stands in for it when the target itself never came out)."""
        self.at.frames_decoded += 1
        if frame.width * frame.height > self.limits.max_pixels:
            raise ClipTooLarge(f"a frame is {frame.width}x{frame.height}, over the pixel limit")
        index = max(self._index(frame), self.at.last_index)
        self.at.last_index, self.at.last_frame = index, frame
        image: npt.NDArray[np.uint8] | None = None
        while not self.filled and self.targets[self.at.next] <= index:
            if image is None:
                image = self.converter.convert(frame)
            self._fill(self.targets[self.at.next], image, index)

    def _fill(self, target: int, image: npt.NDArray[np.uint8], index: int) -> None:
        self.images[target] = image
        self.used[target] = index
        self.at.next += 1

    def hold_last(self) -> None:
        """Targets past the last decodable frame (damage at the end) get the last frame."""
        if self.filled:
            return
        if self.at.last_frame is None:
            raise Undecodable("no frame of the video could be decoded")
        image = self.converter.convert(self.at.last_frame)
        while not self.filled:
            self._fill(self.targets[self.at.next], image, self.at.last_index)

    def ready(self) -> Iterator[DecodedWindow]:
        """Every window whose sampled frames are all filled, in order; frames no later window needs go."""
        windows = self.plan.windows
        while self.at.window < len(windows):
            spec = windows[self.at.window]
            if not self.filled and max(spec.indices) >= self.targets[self.at.next]:
                return
            yield self._window(spec)
            self.at.window += 1
            self.at.frames_decoded = self.at.packets_failed = 0
            if self.at.window < len(windows):
                keep_from = min(windows[self.at.window].indices)
                for target in [t for t in self.images if t < keep_from]:
                    del self.images[target], self.used[target]

    def _window(self, spec: WindowSpec) -> DecodedWindow:
        frames = np.empty((len(spec.indices), self.crop, self.crop, 3), dtype=np.uint8)
        for slot, target in enumerate(spec.indices):
            crop_into(frames, slot, self.images[target], self.crop, 1)
        used = tuple(self.used[t] for t in spec.indices)
        rotation = self.converter.rotation or 0
        context = self.stream.codec_context
        width, height = display_size(
            int(context.width), int(context.height), rotation, sample_aspect(self.stream)
        )
        origin = self.scan.frame_pts[0]
        tb = self.scan.time_base
        return DecodedWindow(
            index=spec.index,
            start_s=spec.start_s,
            end_s=spec.end_s,
            frames=frames,
            indices=used,
            timestamps_s=tuple((self.scan.frame_pts[i] - origin) * tb for i in used),
            rotation=rotation,
            width=width,
            height=height,
            frames_decoded=self.at.frames_decoded,
            packets_failed=self.at.packets_failed,
        )


def _pass(container: av.container.InputContainer, forward: _Forward) -> Iterator[DecodedWindow]:
    """Demux and decode forward, handing out each window as soon as it is complete."""
    stream = forward.stream
    context = stream.codec_context
    configure_decoder(stream, forward.limits)
    skip = str(context.name) in SKIP_NONREF_CODECS
    skipping = False
    try:
        for packet in container.demux(stream):
            if forward.filled:
                break
            if packet.size == 0:
                continue
            pts = packet.pts if packet.pts is not None else packet.dts
            wanted = not skip or pts in forward.target_pts
            if wanted == skipping:
                context.skip_frame = "DEFAULT" if wanted else "NONREF"
                skipping = not wanted
            try:
                frames = context.decode(packet)
            except DECODE_ERRORS:
                forward.at.packets_failed += 1
                skip = False  # concealing damage needs every frame before it
                continue
            for frame in frames:
                forward.take(frame)
            yield from forward.ready()
    except (av.error.FFmpegError, OSError, EOFError):
        pass  # a damaged or truncated file: what was read is decoded
    context.skip_frame = "DEFAULT"
    if not forward.filled:
        try:
            for frame in context.decode(None):
                forward.take(frame)
        except DECODE_ERRORS:
            forward.at.packets_failed += 1
    forward.hold_last()
    yield from forward.ready()


def _decode(
    source: Source, request: WindowRequest, limits: DecodeLimits
) -> Generator[TimelinePlan | DecodedWindow, None, None]:
    plan, scan = _scan(source, request, limits)
    yield plan
    with ExitStack() as stack:
        container = _open(source, limits, stack)
        stream = container.streams[plan.stream_index]
        if not isinstance(stream, av.video.stream.VideoStream):
            raise Undecodable()
        yield from _pass(container, _Forward(plan, scan, stream, request, limits))


def decode_windows(
    source: Source, request: WindowRequest, limits: DecodeLimits
) -> Generator[TimelinePlan | DecodedWindow, None, None]:
    """The plan, then every window of ``source`` in order (see the module docstring).

    Pure and in-process (a decoder worker runs it); raises only ``ServiceError`` subclasses for bad input,
    from the generator's ``next``. Closing the generator early releases the file and the container.
    """
    limits = timeline_limits(limits, request)
    stream = _decode(source, request, limits)
    try:
        while True:
            try:
                item = next(stream)
            except StopIteration:
                return
            except ServiceError:
                raise
            except DECODE_ERRORS as exc:
                raise Undecodable() from exc
            yield item
    finally:
        stream.close()
