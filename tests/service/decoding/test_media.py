"""Every real clip in ../shared/media: the right frames (against a plain full decode), rotations applied,
audio-only refused, damage recovered, streams chosen explicitly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import av.error
import av.video.stream
import numpy as np
import numpy.typing as npt
import pytest

from service.decoding import DecodedClip, DecodeLimits, DecodeRequest, decode_clip, decode_clips, plan_uniform
from service.errors import NoVideoStream

LIMITS = DecodeLimits()
VIDEOS = [
    "nasa_13013.mp4",
    "bt709_full_range.mp4",
    "h264_10bits.mp4",
    "h265_video.mp4",
    "h265_10bits.mp4",
    "av1_video.mkv",
    "video_0.mov",
    "video_90.mov",
    "video_180.mov",
    "video_270.mov",
    "corrupted.mp4",
]
REQUESTS = {
    "uniform8": DecodeRequest(num_frames=8, short_side=128, crop_size=112),
    "uniform16x3crops": DecodeRequest(num_frames=16, short_side=96, crop_size=96, crops=3),
    "stride8x4": DecodeRequest(num_frames=8, policy="stride", frame_stride=4, short_side=64, crop_size=64),
    "stride4x2@15fps_3clips": DecodeRequest(
        num_frames=4,
        policy="stride",
        frame_stride=2,
        target_fps=15.0,
        short_side=64,
        crop_size=48,
        num_clips=3,
    ),
}

MediaFn = Callable[[str], Path]


def reference_frames(path: Path, stream_index: int) -> tuple[dict[float, av.VideoFrame], float]:
    """The straightforward way: demux every packet of the stream, decode each (skipping packets the
    decoder rejects), flush, keep every frame by its presentation time. Returns (frames, first time)."""
    frames: dict[float, av.VideoFrame] = {}
    packet_times: list[float] = []
    with av.open(str(path), mode="r") as container:
        stream = container.streams[stream_index]
        assert isinstance(stream, av.video.stream.VideoStream) and stream.time_base is not None
        if stream.codec_context.width * stream.codec_context.height >= LIMITS.threads_min_pixels:
            # same threading as the decoder: how a damaged frame is concealed depends on it
            stream.codec_context.thread_type = "AUTO"
        tb = float(stream.time_base)
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                packet_times.append(packet.pts * tb)
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in decoded:
                assert isinstance(frame, av.VideoFrame) and frame.pts is not None
                frames[round(frame.pts * tb, 6)] = frame
    return frames, min(packet_times)


def expected_clip(frame: av.VideoFrame, request: DecodeRequest, rotation: int) -> npt.NDArray[np.uint8]:
    """One frame converted the obvious way: resize the short side, rotate clockwise, crop."""
    w, h = frame.width, frame.height
    s = request.short_side
    size = (s, round(h * s / w)) if w <= h else (round(w * s / h), s)
    rgb = frame.to_ndarray(width=size[0], height=size[1], format="rgb24")
    upright = np.rot90(rgb, k=-rotation // 90)
    height, width = upright.shape[:2]
    c = request.crop_size
    if request.crops == 1:
        y, x = (height - c) // 2, (width - c) // 2
        return np.ascontiguousarray(upright[y : y + c, x : x + c])
    if width >= height:
        xs = [0, (width - c) // 2, width - c]
        y = (height - c) // 2
        return np.stack([upright[y : y + c, x : x + c] for x in xs])
    ys = [0, (height - c) // 2, height - c]
    x = (width - c) // 2
    return np.stack([upright[y : y + c, x : x + c] for y in ys])


def assert_matches_reference(
    clip: DecodedClip,
    path: Path,
    request: DecodeRequest,
    reference: tuple[dict[float, av.VideoFrame], float] | None = None,
) -> None:
    frames, first = reference if reference is not None else reference_frames(path, clip.stream_index)
    assert clip.frames.dtype == np.uint8
    t, c = request.num_frames, request.crop_size
    expected_shape = (t, c, c, 3) if request.crops == 1 else (3, t, c, c, 3)
    assert clip.frames.shape == expected_shape
    assert len(clip.indices) == len(clip.timestamps_s) == t
    assert list(clip.indices) == sorted(clip.indices)
    for slot, ts in enumerate(clip.timestamps_s):
        frame = frames[round(first + ts, 6)]  # KeyError = we returned a frame that does not exist
        want = expected_clip(frame, request, clip.rotation)
        got = clip.frames[slot] if request.crops == 1 else clip.frames[:, slot]
        np.testing.assert_array_equal(got, want, err_msg=f"slot {slot} at {ts:.3f}s")


@pytest.mark.parametrize("request_name", list(REQUESTS))
@pytest.mark.parametrize("name", VIDEOS)
def test_real_clips_decode_to_the_right_frames(media: MediaFn, name: str, request_name: str) -> None:
    path = media(name)
    request = REQUESTS[request_name]
    clips = decode_clips(path.read_bytes(), request, LIMITS)
    assert len(clips) == request.num_clips
    reference = reference_frames(path, clips[0].stream_index)
    for clip in clips:
        assert_matches_reference(clip, path, request, reference)
        if name != "corrupted.mp4":  # on an intact clip the plan is followed exactly
            assert clip.indices == clip.plan.indices
            assert clip.packets_failed == 0


def test_decode_forward_skips_work_on_long_gops(media: MediaFn) -> None:
    data = media("nasa_13013.mp4").read_bytes()
    early = decode_clip(data, DecodeRequest(num_frames=2, policy="stride", frame_stride=2), LIMITS)
    # a window in the middle of a 390-frame clip does not need the frames after it
    assert early.frame_count == 390 and early.frames_decoded < early.frame_count
    assert early.frames_decoded >= early.indices[-1] - early.indices[0]


@pytest.mark.parametrize(
    ("name", "size", "rotation"),
    [
        ("video_0.mov", (568, 320), 0),
        ("video_90.mov", (320, 568), 90),
        ("video_180.mov", (568, 320), 180),
        ("video_270.mov", (320, 568), 270),
    ],
)
def test_rotation_metadata_is_applied(
    media: MediaFn, name: str, size: tuple[int, int], rotation: int
) -> None:
    data = media(name).read_bytes()
    # keep the whole displayed frame (crop = short side) and check the orientation of the picture:
    # FFmpeg's CLI autorotates a display matrix of -90 (PyAV's frame.rotation) with transpose=clock
    request = DecodeRequest(num_frames=1, short_side=160, crop_size=160)
    clip = decode_clip(data, request, LIMITS)
    assert clip.rotation == rotation and (clip.width, clip.height) == size
    with av.open(str(media(name)), mode="r") as container:
        raw = list(container.decode(video=0))[clip.indices[0]]
        assert raw.rotation == (-rotation + 180) % 360 - 180 or (rotation == 180 and raw.rotation == 180)
        long_side = round(568 * 160 / 320)
        stored = raw.to_ndarray(width=long_side, height=160, format="rgb24")
    clockwise = np.rot90(stored, k=-(rotation // 90))
    h, w = clockwise.shape[:2]
    y, x = (h - 160) // 2, (w - 160) // 2
    np.testing.assert_array_equal(clip.frames[0], clockwise[y : y + 160, x : x + 160])


@pytest.mark.parametrize("name", ["nasa_13013.mp4.audio.mp3", "sine_mono_s16.wav"])
def test_audio_only_is_refused_with_no_video_stream(media: MediaFn, name: str) -> None:
    data = media(name).read_bytes()
    with pytest.raises(NoVideoStream) as info:
        decode_clip(data, REQUESTS["uniform8"], LIMITS)
    assert info.value.code == "no_video_stream" and not info.value.retryable


def test_corrupted_clip_yields_what_can_be_decoded(media: MediaFn) -> None:
    path = media("corrupted.mp4")
    clip = decode_clip(path.read_bytes(), DecodeRequest(num_frames=50, short_side=64, crop_size=64), LIMITS)
    reference = reference_frames(path, clip.stream_index)
    assert clip.packets_failed >= 1
    assert len(reference[0]) == 49  # what decoding packet by packet recovers
    assert len(set(clip.indices)) == 49  # every recoverable frame is used; the lost one is replaced
    request = DecodeRequest(num_frames=50, short_side=64, crop_size=64)
    assert_matches_reference(clip, path, request, reference)


def test_two_video_streams_pick_ffmpegs_best_and_say_so(media: MediaFn) -> None:
    data = media("nasa_13013.mp4").read_bytes()
    clip = decode_clip(data, REQUESTS["uniform8"], LIMITS)
    assert (clip.stream_index, clip.stream_selection, clip.width, clip.height) == (3, "best", 480, 270)
    assert clip.frame_count == 390
    assert clip.fps == pytest.approx(29.97, abs=0.01)
    assert clip.duration_s == pytest.approx(13.013, abs=0.01)


def test_av1_in_matroska_counts_frames_from_the_packet_scan(media: MediaFn) -> None:
    path = media("av1_video.mkv")
    with av.open(str(path), mode="r") as container:
        assert container.streams.video[0].frames == 0  # the header does not know
    clip = decode_clip(path.read_bytes(), REQUESTS["uniform8"], LIMITS)
    assert clip.frame_count == 125 and clip.duration_s == pytest.approx(5.0)
    assert len(set(clip.indices)) == 8 and clip.indices[-1] > 100  # spread over the clip, not frame 0


@pytest.mark.parametrize(
    ("name", "pix_fmt"),
    [
        ("h264_10bits.mp4", "yuv420p10le"),
        ("h265_10bits.mp4", "yuv420p10le"),
        ("bt709_full_range.mp4", "yuvj420p"),
    ],
)
def test_decoded_clips_report_the_pixel_format(media: MediaFn, name: str, pix_fmt: str) -> None:
    assert decode_clip(media(name).read_bytes(), REQUESTS["uniform8"], LIMITS).pix_fmt == pix_fmt


def test_a_clip_plan_gives_every_view_from_one_pass(media: MediaFn) -> None:
    data = media("nasa_13013.mp4").read_bytes()
    request = DecodeRequest(num_frames=4, short_side=64, crop_size=64, num_clips=3, crops=3)
    clips = decode_clips(data, request, LIMITS)  # 3 clips × 3 crops: the views of multi-view testing
    assert [clip.indices for clip in clips] == [plan_uniform(390, 4, k, 3) for k in range(3)]
    assert all(clip.frames.shape == (3, 4, 64, 64, 3) for clip in clips)
    assert clips[0].indices[-1] < clips[1].indices[0] <= clips[1].indices[-1] < clips[2].indices[0]
    with pytest.raises(ValueError, match="one-clip request"):
        decode_clip(data, request, LIMITS)
