"""The shipped `motion-timesformer` and `motion-vivit` served with no model configuration: exported on
first start into the cache folder, then correct labels on generated motion clips over real HTTP.

Skipped (with the reason) until the trained weights exist in models/weights/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from service.app import create_app
from service.bundles import shipped_weights_dir
from service.settings import SHIPPED_MODELS, Settings
from tests.service.conftest import serve_in_thread

MIN_ACCURACY = 0.8  # easy clips (low difficulty); the models are trained to well above this


def _present() -> list[str]:
    return [name for name in SHIPPED_MODELS if shipped_weights_dir(name) is not None]


@pytest.fixture(scope="module")
def shipped_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cache = getattr(request.config, "cache", None)
    cache_dir = cache.mkdir("vtserve-shipped-bundles") if cache else tmp_path_factory.mktemp("bundles")
    # exported on first start, reused afterwards (and re-exported by the registry when the weights change)
    if not _present():
        pytest.skip("no shipped weights yet in models/weights/")
    # with every shipped model present this is the default configuration (no `models` given)
    present = _present()
    extra = {} if len(present) == len(SHIPPED_MODELS) else {"models": present}
    # every clip is sent at once and must be answered: admit them all (admission is tested in test_admit)
    settings = Settings(cache_dir=cache_dir, decoder_workers=2, max_wait_ms=20.0, max_in_flight=64, **extra)  # type: ignore[arg-type]
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


def motion_clips(size: int, num_frames: int, per_label: int) -> list[tuple[str, bytes]]:
    from models.demo.encode import write_mp4
    from models.demo.motion import LABELS, generate_clip

    clips = []
    for index, label in enumerate(LABELS):
        for k in range(per_label):
            frames = generate_clip(
                label, 1000 + 10 * index + k, num_frames=num_frames, height=size, width=size, difficulty=0.2
            )
            data = write_mp4(frames, None, fps=8.0, crf=12)
            assert data is not None
            clips.append((label, data))
    return clips


# The bar is the model's (issue 9), not the service's: a checkpoint below it is marked here with its measured
# numbers, strictly, so the day a better checkpoint ships this turns red and the marker is removed.
BELOW_BAR: dict[str, str] = {}  # none: both shipped checkpoints label easy clips well above MIN_ACCURACY


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=BELOW_BAR[name]))
        if name in BELOW_BAR
        else name
        for name in SHIPPED_MODELS
    ],
)
def test_shipped_model_labels_motion_clips(model: str, request: pytest.FixtureRequest) -> None:
    if shipped_weights_dir(model) is None:
        pytest.skip(f"shipped weights not present yet: models/weights/{model}/")
    shipped_server: str = request.getfixturevalue("shipped_server")
    models = httpx.get(f"{shipped_server}/v1/models").json()
    assert {m["name"] for m in models["models"]} == set(_present())
    info = next(m for m in models["models"] if m["name"] == model)
    size = info["sampling"]["crop_size"]
    size += size % 2
    clips = motion_clips(size, info["sampling"]["num_frames"], per_label=2)

    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=shipped_server, timeout=120) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.post(
                            "/v1/predictions", params={"model": model}, files={"file": ("c.mp4", data)}
                        )
                        for _label, data in clips
                    )
                )
            )

    responses = asyncio.run(send())
    assert [r.status_code for r in responses] == [200] * len(clips)
    correct = 0
    for (label, _data), response in zip(clips, responses, strict=True):
        body = response.json()
        correct += body["labels"][0]["label"] == label
        assert abs(sum(body["attention"]["frame_importance"]) - 1.0) < 1e-6
    accuracy = correct / len(clips)
    assert accuracy >= MIN_ACCURACY, f"{model}: top-1 {accuracy:.2f} on easy motion clips"
