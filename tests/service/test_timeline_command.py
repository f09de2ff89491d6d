"""`vtserve timeline`: the timeline pipeline without a server, on the shipped model."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from service.bundles import shipped_weights_dir
from tests.service.long_video import assemble


@pytest.fixture(scope="module")
def cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shipped_weights_dir("motion-vivit") is None:
        pytest.skip("the shipped weights are not in models/weights/")
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("vtserve-shipped-bundles") if cache else tmp_path_factory.mktemp("bundles")


def _timeline(cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "service.commands.timeline",
        "motion-vivit",
        *args,
        "--cache-dir",
        str(cache_dir),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_timeline_command_writes_the_png_and_prints_the_document(cache_dir: Path, tmp_path: Path) -> None:
    video, out = tmp_path / "video.mp4", tmp_path / "timeline.png"
    truth = assemble([("moving_right", 8.0), ("growing", 8.0)], video)
    result = _timeline(
        cache_dir, str(video), "--out", str(out), "--json", "--window-s", "4", "--stride-s", "1"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    assert document["complete"] and document["window_count"] == len(document["windows"]) == 13
    labels = [s["label"] for s in document["segments"]]
    assert labels[0] == truth[0].label and labels[-1] == truth[-1].label
    assert Image.open(io.BytesIO(out.read_bytes())).format == "PNG"


def test_timeline_command_refuses_what_is_not_a_video(cache_dir: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 4096)
    result = _timeline(cache_dir, str(junk))
    assert (
        result.returncode == 1 and "unsupported_media" in result.stderr and "Traceback" not in result.stderr
    )
