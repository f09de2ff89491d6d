"""`VTSERVE_MODELS=zoo`: every checkpoint folder of the zoo served at once, over real HTTP.

The zoo here is two tiny models with random weights stored as fp16 safetensors, as the comparison ships
them (`bench.patterns train` → `models/weights/zoo/<name>/`): on first start each is exported (weights
upcast to float32) into the cache folder — here before the server starts, as `vtserve serve` does — then
served under its folder's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.bundles import BundleNotFound, configured_names, resolve_bundle
from service.settings import Settings
from tests.service.conftest import serve_in_thread

ZOO_MODELS = {"zoo-divided": "timesformer_tiny", "zoo-windowed": "windowed_tiny"}


def _save_fp16(name: str, folder: Path) -> None:
    import torch

    import models
    from bench.pattern_training import half_weights

    torch.manual_seed(0)
    models.save_pretrained(models.create_model(name).eval(), folder)
    half_weights(folder)  # as the comparison ships them


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    zoo = tmp_path_factory.mktemp("zoo")
    for folder, constructor in ZOO_MODELS.items():
        _save_fp16(constructor, zoo / folder)
    (zoo / "notes").mkdir()  # not a model folder: ignored
    return zoo


@pytest.fixture(scope="module")
def zoo_server(zoo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cache = tmp_path_factory.mktemp("zoo-cache")
    settings = Settings(
        models=["zoo"], zoo_dir=zoo_dir, cache_dir=cache, decoder_workers=1, default_model="zoo-windowed"
    )
    for name in configured_names(settings):  # as `vtserve serve` does before its workers start
        resolve_bundle(name, settings)
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


def test_zoo_entry_lists_every_model_folder(zoo_dir: Path, tmp_path: Path) -> None:
    names = configured_names(Settings(models=["zoo"], zoo_dir=zoo_dir))
    assert names == [str(zoo_dir / name) for name in sorted(ZOO_MODELS)]
    with pytest.raises(BundleNotFound, match="no zoo folder"):
        configured_names(Settings(models=["zoo"], zoo_dir=tmp_path / "absent"))


def test_every_zoo_model_is_served(zoo_server: str, zoo_dir: Path, media: Callable[[str], Path]) -> None:
    import torch
    from safetensors.torch import load_file

    for folder in ZOO_MODELS:  # served from fp16 weights
        assert {t.dtype for t in load_file(zoo_dir / folder / "model.safetensors").values()} == {
            torch.float16
        }
    clip = media("nasa_13013.mp4")
    with httpx.Client(base_url=zoo_server, timeout=60) as client:
        info = client.get("/v1/models").json()["models"]
        assert {m["name"]: m["attention"] for m in info} == {
            "zoo-divided": "divided_space_time",
            "zoo-windowed": "windowed",
        }
        answers = {}
        for name in [*ZOO_MODELS, None]:
            params = {"model": name} if name else {}
            response = client.post(
                "/v1/predictions", params=params, files={"file": (clip.name, clip.read_bytes())}
            )
            assert response.status_code == 200, response.text
            answers[name] = response.json()
    for name, answer in answers.items():
        assert answer["model"]["name"] == (name or "zoo-windowed")
        assert len(answer["labels"]) >= 1 and abs(sum(answer["attention"]["frame_importance"]) - 1) < 1e-5
