"""The H.264 pool: real libx264 round trips, reproducible items, cached shards, display-order truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.demo.encode import encoder_fingerprint, read_video, write_mp4
from models.demo.generator import render_video
from models.demo.h264 import (
    PoolSpec,
    build_item,
    decode_sampled,
    ensure_pool,
    generator_fingerprint,
    load_pool,
    pool_video,
)
from models.demo.motion import PARTNER
from models.demo.upload import uniform_indices, video_to_input


def test_decode_sampled_matches_a_full_decode() -> None:
    video = render_video("moving_right", 3, short_side=64)
    data = write_mp4(video.frames, None, video.upload.fps, crf=30)
    assert data is not None
    full, _ = read_video(data)
    picked = decode_sampled(data, len(full), 8)
    assert np.array_equal(picked, full[uniform_indices(len(full), 8)])


def test_items_are_deterministic_compressed_and_labelled_in_order() -> None:
    spec = PoolSpec(sizes=(32,))
    a, b = build_item(spec, 13), build_item(spec, 13)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert (
        int(a["label"]) == 13 % 11
        and a["clips32"].shape == (8, 32, 32, 3)
        and a["masks32"].shape == (8, 32, 32)
    )
    assert 18 <= int(a["crf"]) <= 43 and int(a["bytes"]) > 0
    # close to the same upload without the round trip, but not equal: the artefacts are real
    raw = video_to_input(pool_video(spec, 13).frames, 8, 32).astype(float)
    error = np.abs(a["clips32"].astype(float) - raw).mean()
    assert 0.3 < error < 12.0, error


def test_round_trip_keeps_the_motion_and_its_ground_truth() -> None:
    """A moving-left item: the object's pixels move left, where the stored centres say they are."""
    spec = PoolSpec(sizes=(64,))
    item = build_item(spec, 1)  # label 1: moving_left (a backward class: rendered forward, reversed)
    assert int(item["label"]) == 1
    centres = item["centres64"]
    assert centres[-1, 0] < centres[0, 0] - 4
    masks = item["masks64"].astype(float)
    seen = masks.sum((1, 2)) > 0
    xs = np.arange(64)[None, None, :]
    centroid = (masks * xs).sum((1, 2))[seen] / masks.sum((1, 2))[seen]
    assert centroid[-1] < centroid[0]
    assert np.abs(centroid - centres[seen, 0]).max() < 6  # masks and centres agree (shapes are not discs)


def test_pool_is_built_once_and_loaded(tmp_path: Path) -> None:
    spec = PoolSpec(sizes=(32,), shard=4, seed=5)
    logged: list[str] = []
    assert ensure_pool(spec, 6, tmp_path, logged.append) == 2 and len(logged) == 2
    assert ensure_pool(spec, 8, tmp_path) == 0  # both shards are on disk
    files = sorted((tmp_path / spec.key).iterdir())
    assert [f.name for f in files] == ["shard-00000.npz", "shard-00001.npz"]
    pool = load_pool(spec, 6, 32, tmp_path)
    assert len(pool) == 6 and pool.clips.shape == (6, 8, 32, 32, 3)
    assert pool.labels.tolist() == [0, 1, 2, 3, 4, 5]
    clip = pool.clip(2)
    assert (
        clip.label == 2
        and clip.masks.dtype == np.float32
        and 0.0 <= clip.masks.min() <= clip.masks.max() <= 1.0
    )
    assert np.array_equal(clip.frames, build_item(spec, 2)["clips32"])
    with pytest.raises(ValueError, match="sizes"):
        load_pool(spec, 6, 64, tmp_path)
    assert PARTNER[int(pool.labels[1])] == 2
    g = np.random.default_rng(0)
    limit = float(np.median(pool.difficulty))  # the curriculum: only items no harder than it
    picked = {pool.pick(g, limit) for _ in range(40)}
    assert picked == {i for i in range(6) if pool.difficulty[i] <= limit}
    assert pool.pick(g, -1.0) is None


def test_pool_names_follow_what_the_code_makes() -> None:
    """The key holds fingerprints of the generator's and the encoder's output, recomputed identically."""
    key = PoolSpec().key
    assert generator_fingerprint() in key and encoder_fingerprint() in key
    assert generator_fingerprint.__wrapped__() == generator_fingerprint()
    assert encoder_fingerprint.__wrapped__() == encoder_fingerprint()
    assert PoolSpec(seed=1).key != key and PoolSpec(sizes=(32,)).key != key
