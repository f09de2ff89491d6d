"""Video Swin and MTV served end to end: their bundles behind one app, real HTTP, a real clip.

Nothing in the service knows either architecture: `model.json` names the pattern and records the grids,
the graph computes the maps. Each answer carries its model's temporal map on its own grid (Swin: the
last stage's 4 slices; MTV: the finest view's 8), with one timestamp per token, and a heatmap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.settings import Settings
from tests.export.swin_mtv import NAMES, cached_bundle
from tests.service.conftest import serve_in_thread

TOKENS = {"video_swin_tiny": 4, "mtv_tiny": 8}  # T' of the attention grid (8 frames / tubelet 2 or 1)


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bundles = [str(cached_bundle(name, request, tmp_path_factory)) for name in NAMES]
    cache = tmp_path_factory.mktemp("cache")
    settings = Settings(models=bundles, cache_dir=cache, decoder_workers=1, max_wait_ms=5.0)
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


def test_both_models_are_listed_with_their_patterns(server: str) -> None:
    info = httpx.get(f"{server}/v1/models", timeout=30).json()["models"]
    listed = {m["name"]: (m["architecture"], m["attention"], m["has_attention"]) for m in info}
    assert listed == {
        "video_swin_tiny": ("video_swin", "shifted_windows", True),
        "mtv_tiny": ("mtv", "multiview", True),
    }


@pytest.mark.parametrize("name", NAMES)
def test_a_real_clip_is_answered_with_maps_on_the_models_grid(
    server: str, name: str, media: Callable[[str], Path]
) -> None:
    clip = media("nasa_13013.mp4")
    with httpx.Client(base_url=server, timeout=60) as client:
        response = client.post(
            "/v1/predictions", params={"model": name}, files={"file": (clip.name, clip.read_bytes())}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        heatmap = client.get(body["links"]["heatmap"])
    assert body["model"]["name"] == name and len(body["labels"]) >= 1
    attention, t = body["attention"], TOKENS[name]
    assert len(attention["temporal"]) == t and all(len(row) == t for row in attention["temporal"])
    assert all(abs(sum(row) - 1.0) < 1e-5 for row in attention["temporal"])
    assert len(attention["frame_importance"]) == t and abs(sum(attention["frame_importance"]) - 1.0) < 1e-5
    assert heatmap.status_code == 200 and heatmap.headers["content-type"] == "image/png"
