"""V-JEPA 2 and VideoPrism, exported from transformers folders, served over real HTTP on a real clip.

Random tiny weights: this checks that the bundles load in the service and answer with their labels and
both attention maps on their token grids, not label quality.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from export.manifest import read_manifest
from service.app import create_app
from service.settings import Settings
from tests.models.hf_reference import LABELS
from tests.service.conftest import serve_in_thread

ARCHS = ("vjepa2", "videoprism")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import export
    from tests.models import hf_recent

    out = {}
    for arch in ARCHS:
        root = tmp_path_factory.mktemp(arch)
        getattr(hf_recent, arch)().save_pretrained(root / "hf")
        export.build_bundle(root / "hf", root / f"{arch}-tiny")
        out[arch] = root / f"{arch}-tiny"
    return out


@pytest.fixture(scope="module")
def server(bundles: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        models=[str(bundles[a]) for a in ARCHS],
        cache_dir=tmp_path_factory.mktemp("cache"),
        decoder_workers=1,
        max_wait_ms=5.0,
    )
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


@pytest.mark.parametrize("arch", ARCHS)
def test_a_real_clip_is_classified_with_both_maps(
    arch: str, server: str, bundles: dict[str, Path], media: Callable[[str], Path]
) -> None:
    manifest = read_manifest(bundles[arch])
    assert manifest.attention == arch and manifest.has_attention
    t = manifest.attention_grid.t
    with httpx.Client(base_url=server, timeout=120) as client:
        listed = {m["name"] for m in client.get("/v1/models").json()["models"]}
        assert f"{arch}-tiny" in listed
        clip = media("nasa_13013.mp4")
        response = client.post(
            "/v1/predictions",
            params={"model": f"{arch}-tiny"},
            files={"file": ("clip.mp4", clip.read_bytes())},
        )
        assert response.status_code == 200, response.text
        body = response.json()
    assert body["model"]["name"] == f"{arch}-tiny"
    assert body["labels"] and {p["label"] for p in body["labels"]} <= set(LABELS)
    temporal = body["attention"]["temporal"]
    assert len(temporal) == t and all(len(row) == t and abs(sum(row) - 1.0) < 1e-5 for row in temporal)
    assert len(body["attention"]["frame_importance"]) == t
    heatmap = httpx.get(server + body["links"]["heatmap"], timeout=60)
    assert heatmap.status_code == 200 and heatmap.headers["content-type"] == "image/png"
