"""The benchmark's LitServe peer answers as vtserve does, and its answers are checked, not only counted.

`PeerModel` (what the peer's LitAPI runs) is tested here against a real `vtserve serve` app over real HTTP
on the tiny bundle and real clips. The LitServe server itself runs in its own venv (made from PyPI on first
use, `bench.peer.ensure_venv`): that test is an integration test (`pytest -m integration`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from bench.answers import LabelCheck, Labels, agreement, answers_of, labels_of
from bench.clips import Clip, clip_mix
from bench.report import e2e_markdown
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import serve_in_thread, tiny_bundle  # noqa: F401

REAL = ("nasa_13013.mp4", "h265_video.mp4", "av1_video.mkv", "video_90.mov", "h264_10bits.mp4")


@pytest.fixture(scope="module")
def clips(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Clip]:
    return clip_mix(media_dir=media_dir, cache_dir=tmp_path_factory.mktemp("clips"), generated=(), real=REAL)


@pytest.fixture(scope="module")
def vtserve_answers(
    tiny_bundle: Path,  # noqa: F811
    clips: list[Clip],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Labels | None]:
    """What `vtserve serve` answers for each clip (labels and scores, best first)."""
    cache = tmp_path_factory.mktemp("cache")
    settings = Settings(models=[str(tiny_bundle)], cache_dir=cache, providers=["cpu"])
    with serve_in_thread(create_app(settings)) as url:
        return asyncio.run(answers_of(f"{url}/v1/predictions", clips))


def test_the_peer_model_decodes_and_classifies_as_vtserve(
    tiny_bundle: Path,  # noqa: F811
    clips: list[Clip],
    vtserve_answers: dict[str, Labels | None],
) -> None:
    from bench.peer import decode_request_json
    from bench.peer_model import PeerModel
    from service.decoding.types import DecodeRequest

    model = PeerModel(tiny_bundle, DecodeRequest(**json.loads(decode_request_json(tiny_bundle))))
    answers = model.predict([model.decode(clip.data) for clip in clips])  # one batch of every clip
    got: dict[str, Labels | None] = {
        clip.name: tuple((a["label"], a["score"]) for a in answer["labels"])
        for clip, answer in zip(clips, answers, strict=True)
    }
    result = agreement(vtserve_answers, got)
    assert result["clips"] == len(clips) and result["differ"] == []
    assert result["same_labels"] == len(clips) and result["max_score_delta"] < 1e-5
    assert all(np.isclose(sum(row), 1.0) for a in answers for row in a["temporal"])  # attention rows


def test_answers_are_compared_with_the_reference_clip_by_clip() -> None:
    reference = {"a": (("x", 0.6), ("y", 0.4)), "b": (("y", 0.9), ("x", 0.1)), "c": None}
    got = {"a": (("x", 0.61), ("y", 0.39)), "b": (("x", 0.5), ("y", 0.5)), "c": (("x", 1.0),)}
    result = agreement(reference, got)
    assert (result["clips"], result["same_top1"], result["same_labels"], result["differ"]) == (2, 1, 1, ["b"])
    assert result["max_score_delta"] == pytest.approx(0.4)
    check = LabelCheck.of(reference)
    body = json.dumps({"labels": [{"label": "y", "score": 0.9}]}).encode()
    assert check("b", body) and not check("a", body) and check("c", body)  # c: no reference, not checked
    assert not check("b", b"not json") and not check("b", b'{"labels": []}')
    assert labels_of(b'{"labels": [{"label": "x", "score": 1}]}') == (("x", 1.0),)


def test_the_e2e_table_has_the_peer_row_and_its_answers() -> None:
    row = {
        "concurrency": 4,
        "clips_per_s": 10.0,
        "latency": {"p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0},
        "errors": {},
        "checked": 40,
        "wrong_answers": 0,
    }
    env = {"time_utc": "t", "host_cpus": 2, "cpu_model": "cpu", "git_commit": "c", "load_average": [1.0]}
    results = {
        "model": {"label": "m", "num_frames": 8, "image_size": 32, "gflop_per_clip": 0.1},
        "environment": {"before": env, "after": env},
        "duration_s": 5,
        "clips": [{}],
        "vtserve": [row],
        "litserve": [row | {"clips_per_s": 5.0, "wrong_answers": 1}],
        "answers": {
            "litserve": {"clips": 3, "same_top1": 3, "same_labels": 3, "max_score_delta": 0.0, "differ": []}
        },
        "peer": {"workers": 2, "max_batch_size": 8, "batch_timeout_s": 0.01, "intra_op_threads": 0},
        "comparison": {"peer_ratios": [{"concurrency": 4, "throughput_ratio": 2.0, "p99_ratio": 1.0}]},
    }
    text = e2e_markdown(results)
    assert "| litserve | 4 | 5 |" in text and "| 1/40 |" in text and "| 0/40 |" in text
    assert "litserve: top-1 as vtserve's on 3/3 clips" in text and "vtserve / LitServe:" in text


@pytest.mark.integration
def test_the_litserve_peer_serves_vtserve_s_answers(
    tiny_bundle: Path,  # noqa: F811
    clips: list[Clip],
    vtserve_answers: dict[str, Labels | None],
    tmp_path: Path,
) -> None:
    from bench.peer import PeerOptions, ensure_venv, litserve_command
    from bench.server import free_port, serve

    python = ensure_venv()  # PyPI on first use
    port = free_port()
    options = PeerOptions(max_batch_size=4, batch_timeout_s=0.01, request_timeout_s=60, intra_op_threads=1)
    command = litserve_command(python, tiny_bundle, port, options)
    with serve(command, port=port, ready_path="/health", log_path=tmp_path / "litserve.log") as server:
        answers = asyncio.run(answers_of(f"{server.base_url}/predict", clips))
        group = server.process.pid
    result = agreement(vtserve_answers, answers)
    assert result["same_labels"] == len(clips) and result["max_score_delta"] < 1e-5, result
    assert gone(group, within_s=15), "a LitServe process outlived its SIGTERM"


def gone(group: int, within_s: float) -> bool:
    """Whether no process is left in process group `group` (within `within_s`)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False
