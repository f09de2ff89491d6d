"""H.264/MP4 round trip through PyAV, and the uniform-sampling / resize path used on decoded clips."""

from __future__ import annotations

import io

import numpy as np
import pytest

from models.demo.encode import read_video, write_mp4
from models.demo.generator import render_video
from models.demo.motion import generate_clip
from models.demo.upload import resize_short_side_center_crop, uniform_indices, video_to_input


def test_mp4_round_trip_bytes_and_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frames = generate_clip("moving_down", 0, num_frames=20, height=48, width=64, difficulty=0.0)
    data = write_mp4(frames, None, fps=24.0)
    assert data is not None and data[4:8] == b"ftyp"
    decoded, fps = read_video(data)
    assert decoded.shape == frames.shape
    assert fps == pytest.approx(24.0)
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 6.0  # lossy but close

    path = tmp_path / "clip.mp4"
    assert write_mp4(frames, path, fps=30.0) is None
    from_path, fps_path = read_video(path)
    assert from_path.shape == frames.shape and fps_path == pytest.approx(30.0)

    buffer = io.BytesIO()
    write_mp4(frames, buffer, fps=30.0)
    assert read_video(buffer.getvalue())[0].shape == frames.shape


def test_write_mp4_rejects_odd_sizes_and_bad_dtype() -> None:
    with pytest.raises(ValueError, match="even"):
        write_mp4(np.zeros((2, 31, 32, 3), np.uint8), None, 30.0)
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(np.zeros((2, 32, 32, 3), np.float32), None, 30.0)


def test_uniform_indices_are_segment_centres() -> None:
    assert uniform_indices(80, 8).tolist() == [5, 15, 25, 35, 45, 55, 65, 75]
    assert uniform_indices(8, 8).tolist() == list(range(8))
    assert uniform_indices(3, 8).max() == 2  # fewer frames than asked: repeats, never out of range


def test_resize_short_side_then_centre_crop() -> None:
    frames = np.zeros((2, 240, 320, 3), np.uint8)
    frames[:, :, 160:] = 255  # right half white: the centre crop keeps both halves
    out = resize_short_side_center_crop(frames, 32)
    assert out.shape == (2, 32, 32, 3)
    assert out[0, :, :10].max() < 30 and out[0, :, -10:].min() > 225


def test_decoded_wide_clip_keeps_the_motion_in_view() -> None:
    """A 320x240 clip, encoded and decoded, sampled to 8 frames of 32x32: the object still moves right."""
    frames = generate_clip("moving_right", 3, num_frames=45, height=240, width=320, fps=30.0, difficulty=0.0)
    decoded, _ = read_video(write_mp4(frames, None, 30.0) or b"")
    clip = video_to_input(decoded, 8, 32).astype(float)
    background = np.median(clip.reshape(-1, 3), axis=0)
    diff = (np.abs(clip - background).sum(-1) > 60).astype(float)  # [T, 32, 32]: where the object is
    xs = np.arange(32)
    centroid_x = (diff * xs).sum((1, 2)) / diff.sum((1, 2))
    assert centroid_x[-1] - centroid_x[0] > 6


def test_reproducible_encoding() -> None:
    """The same frames give the same file, whatever was encoded in between (the H.264 pool relies on it)."""
    a = generate_clip("growing", 1, num_frames=24, height=100, width=134, difficulty=1.0)
    b = generate_clip("moving_left", 2, num_frames=30, height=96, width=128, difficulty=1.0)
    c = render_video(
        "moving_right", np.random.default_rng([0, 2, 3]), short_side=156
    ).frames  # varied with mbtree
    first = write_mp4(a, None, 25.0, crf=33, reproducible=True)
    third = write_mp4(c, None, 12.0, crf=28, reproducible=True)
    for _ in range(3):
        write_mp4(b, None, 30.0, crf=18, reproducible=True)
        assert write_mp4(a, None, 25.0, crf=33, reproducible=True) == first
        assert write_mp4(c, None, 12.0, crf=28, reproducible=True) == third
