"""A new attention pattern served end to end: windowed attention, exported, behind `vtserve serve`'s app.

Nothing in the service knows the pattern: the bundle's `model.json` names it, the graph computes its maps.
The windowed model's temporal map must keep its exact zeros (frames outside the window) through
onnxruntime, the batcher and JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import serve_in_thread


@pytest.fixture(scope="module")
def windowed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import torch

    import export
    import models

    root = tmp_path_factory.mktemp("windowed")
    torch.manual_seed(0)
    checkpoint = models.save_pretrained(models.create_model("windowed_tiny").eval(), root / "checkpoint")
    export.build_bundle(checkpoint, root / "windowed")
    settings = Settings(models=[str(root / "windowed")], cache_dir=root / "cache", decoder_workers=1)
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


def test_windowed_model_is_served_with_its_attention(
    windowed_server: str, media: Callable[[str], Path]
) -> None:
    with httpx.Client(base_url=windowed_server, timeout=60) as client:
        info = client.get("/v1/models").json()["models"]
        assert [(m["attention"], m["architecture"], m["has_attention"]) for m in info] == [
            ("windowed", "pattern_vit", True)
        ]
        clip = media("nasa_13013.mp4")
        response = client.post("/v1/predictions", files={"file": (clip.name, clip.read_bytes())})
        assert response.status_code == 200, response.text
        attention = response.json()["attention"]
        heatmap = client.get(response.json()["links"]["heatmap"])
    temporal = attention["temporal"]
    assert len(temporal) == 8 and abs(sum(attention["frame_importance"]) - 1.0) < 1e-6
    for i, row in enumerate(temporal):
        assert abs(sum(row) - 1.0) < 1e-6
        assert all((value == 0.0) == (abs(i - j) > 1) for j, value in enumerate(row)), (i, row)
    assert heatmap.status_code == 200 and heatmap.headers["content-type"] == "image/png"
