"""What a server answers for a clip, through both APIs: `/v1/predictions` and `/v2` logits (tritonclient)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import tritonclient.http as triton

#: Shared clips (../shared/media) with different containers, codecs, sizes and rotations.
CLIPS = ("nasa_13013.mp4", "h265_video.mp4", "av1_video.mkv", "video_90.mov", "h264_10bits.mp4")


@dataclass(frozen=True)
class Answer:
    prediction: dict[str, Any]  # the /v1 body, without what differs per request (id, links, timings)
    logits: np.ndarray  # [C], from /v2 with the clip as BYTES


def answer(base_url: str, model: str, data: bytes) -> Answer:
    response = httpx.post(
        f"{base_url}/v1/predictions",
        params={"model": model, "top_k": 100},
        content=data,
        headers={"Content-Type": "video/mp4"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = {k: v for k, v in response.json().items() if k not in ("id", "links", "timings_ms")}
    client = triton.InferenceServerClient(base_url.removeprefix("http://"), network_timeout=120)
    clip = triton.InferInput("clip", [1], "BYTES").set_data_from_numpy(np.array([data], dtype=np.object_))
    result = client.infer(model, [clip], outputs=[triton.InferRequestedOutput("logits")])
    logits = result.as_numpy("logits")
    assert logits is not None
    return Answer(prediction=body, logits=logits[0])


def assert_same(got: Answer, expected: Answer, atol: float = 1e-5) -> None:
    """The same labels in the same order, the same clip facts, and logits and scores within `atol`."""
    np.testing.assert_allclose(got.logits, expected.logits, atol=atol, rtol=0)
    got_labels, expected_labels = got.prediction["labels"], expected.prediction["labels"]
    assert [x["label"] for x in got_labels] == [x["label"] for x in expected_labels]
    scores = [x["score"] for x in got_labels], [x["score"] for x in expected_labels]
    np.testing.assert_allclose(*scores, atol=atol)
    assert got.prediction["clip"] == expected.prediction["clip"]
    got_attention, expected_attention = got.prediction["attention"], expected.prediction["attention"]
    np.testing.assert_allclose(got_attention["temporal"], expected_attention["temporal"], atol=atol)
    assert got.prediction["model"] == expected.prediction["model"]
