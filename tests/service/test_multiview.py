"""`POST /v1/predictions?views=CxK` over real HTTP: 1x1 is today's answer, more views are averaged and
recorded, and the central view carries the attention."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import serve_in_thread

VOLATILE = ("id", "links", "timings_ms")


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        models=[str(tiny_bundle)], cache_dir=tmp_path_factory.mktemp("cache"), max_wait_ms=5.0
    )
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


def _predict(server: str, clip: bytes, **params: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{server}/v1/predictions",
        params=params,
        content=clip,
        headers={"Content-Type": "video/mp4"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _stable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in VOLATILE}


def test_one_view_is_the_default_answer(server: str, media: Callable[[str], Path]) -> None:
    clip = media("nasa_13013.mp4").read_bytes()
    default, single = _predict(server, clip), _predict(server, clip, views="1x1")
    assert _stable(single) == _stable(default)
    assert default["views"] == {
        "clips": 1,
        "crops": 1,
        "crop_positions": ["centre"],
        "clip_timestamps_s": [default["clip"]["timestamps_s"]],
    }


def test_three_crops_average_and_keep_the_centre_views_attention(
    server: str, media: Callable[[str], Path]
) -> None:
    clip = media("nasa_13013.mp4").read_bytes()
    single, three = _predict(server, clip, top_k=10), _predict(server, clip, views="1x3", top_k=10)
    assert three["views"]["clips"] == 1 and three["views"]["crops"] == 3
    assert three["views"]["crop_positions"] == ["left", "centre", "right"]  # a landscape video
    assert three["clip"] == single["clip"]  # the centre view: same frames, same attention (batching aside)
    for key in ("frame_importance", "temporal"):
        np.testing.assert_allclose(three["attention"][key], single["attention"][key], atol=1e-5)
    assert three["labels"] != single["labels"]  # the side crops changed the averaged scores
    assert sum(label["score"] for label in three["labels"]) == pytest.approx(1.0, abs=1e-6)
    stored = httpx.get(f"{server}{three['links']['self']}").json()
    assert _stable(stored) == _stable(three)


def test_four_clips_by_three_crops(server: str, media: Callable[[str], Path]) -> None:
    body = _predict(server, media("nasa_13013.mp4").read_bytes(), views="4x3")
    views = body["views"]
    assert (views["clips"], views["crops"]) == (4, 3) and views["crop_positions"] == [
        "left",
        "centre",
        "right",
    ]
    firsts = [times[0] for times in views["clip_timestamps_s"]]
    assert len(firsts) == 4 and firsts == sorted(firsts) and len(set(firsts)) == 4  # spread over the video
    assert all(len(times) == len(body["clip"]["timestamps_s"]) for times in views["clip_timestamps_s"])


def test_portrait_video_crops_top_centre_bottom(server: str, media: Callable[[str], Path]) -> None:
    body = _predict(server, media("video_90.mov").read_bytes(), views="1x3")  # portrait once rotated
    assert body["views"]["crop_positions"] == ["top", "centre", "bottom"]


@pytest.mark.parametrize("views", ["2x2", "0x1", "11x3", "1x3x1", "x"])
def test_bad_views_are_refused(server: str, media: Callable[[str], Path], views: str) -> None:
    response = httpx.post(
        f"{server}/v1/predictions",
        params={"views": views},
        content=media("nasa_13013.mp4").read_bytes(),
        headers={"Content-Type": "video/mp4"},
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
