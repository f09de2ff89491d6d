"""The transport-free pipeline pieces: admission control and turning outputs into a stored result."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from export.manifest import read_manifest
from service.admission import Admission
from service.decoding.types import DecodedClip
from service.errors import Overloaded
from service.pipeline import build_prediction
from service.schemas import Timings


def test_admission_caps_per_model_and_gives_slots_back() -> None:
    admission = Admission(2)
    with admission.admit("a"), admission.admit("a"):
        with pytest.raises(Overloaded), admission.admit("a"):
            pass
        with admission.admit("b"):  # another model has its own budget
            assert admission.count("b") == 1
        assert admission.count("a") == 2
    assert admission.count("a") == 0
    with pytest.raises(RuntimeError), admission.admit("a"):  # released on errors too
        raise RuntimeError
    assert admission.count("a") == 0


def test_admission_cap_holds_under_concurrent_requests() -> None:
    admission = Admission(5)
    held = threading.Barrier(6)  # the 5 admitted hold their slot until every thread has tried
    outcomes: list[str] = []
    lock = threading.Lock()

    def request() -> None:
        try:
            with admission.admit("m"):
                with lock:
                    outcomes.append("admitted")
                held.wait(10)
        except Overloaded:
            with lock:
                outcomes.append("refused")

    threads = [threading.Thread(target=request) for _ in range(40)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(outcomes) < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert outcomes.count("admitted") == 5 and outcomes.count("refused") == 35
    held.wait(10)
    for t in threads:
        t.join(10)
    assert admission.count("m") == 0


class _Model:
    """The two fields of LoadedModel that build_prediction reads."""

    def __init__(self, manifest: Any) -> None:
        self.name = "m"
        self.manifest = manifest


def _clip(frames: np.ndarray) -> DecodedClip:
    t = frames.shape[0]
    return DecodedClip(
        frames=frames,
        indices=tuple(range(0, 2 * t, 2)),
        timestamps_s=tuple(0.1 * i for i in range(t)),
        fps=10.0,
        duration_s=0.1 * t,
        rotation=90,
        stream_index=1,
        stream_selection="largest",
        width=180,
        height=320,
        codec="h264",
        container="mov,mp4,m4a,3gp,3g2,mj2",
        pix_fmt="yuv420p",
    )


@pytest.mark.parametrize("tubelet", [1, 2])
def test_build_prediction_per_temporal_token(tiny_bundle: Path, tubelet: int) -> None:
    bundled = read_manifest(tiny_bundle)
    manifest = bundled.model_copy(update={"input": replace(bundled.input, tubelet_size=tubelet)})
    frames = np.stack([np.full((32, 32, 3), i, dtype=np.uint8) for i in range(4)])
    tokens = 4 // tubelet
    temporal = np.full((tokens, tokens), 1.0 / tokens, dtype=np.float32)
    temporal[:, 0] += 0.5  # every token attends most to the first one
    spatial = np.random.default_rng(0).random((tokens, 4, 4)).astype(np.float32)
    logits = np.array([0.0, 3.0, 1.0, -1.0, 0.5], dtype=np.float32)
    timings = Timings(decode=2, queue=3, inference=4, total=10)
    model: Any = _Model(manifest)  # the two fields of LoadedModel that build_prediction reads
    predict = partial(build_prediction, model, _clip(frames), logits, temporal, spatial, timings=timings)
    p = predict(k=2, attention=True)
    assert [label for label, _ in p.labels] == [manifest.labels[1], manifest.labels[2]]
    assert p.importance is not None and len(p.importance) == tokens
    assert abs(sum(p.importance) - 1.0) < 1e-9 and max(p.importance) == p.importance[0]
    assert p.frames.shape == (tokens, 32, 32, 3) and p.spatial is not None and p.spatial.shape[0] == tokens
    # each token is shown by the middle frame of its tubelet, at the mean time of its frames
    assert [int(f[0, 0, 0]) for f in p.frames] == ([0, 1, 2, 3] if tubelet == 1 else [1, 3])
    assert p.token_timestamps == pytest.approx([0.0, 0.1, 0.2, 0.3] if tubelet == 1 else [0.05, 0.25])
    assert p.clip.rotation == 90 and p.clip.stream == 1 and p.clip.frame_indices == (0, 2, 4, 6)
    without = predict(k=1, attention=False)
    assert without.importance is None and without.temporal is None and without.spatial is None
