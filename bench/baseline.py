"""The naive server a user writes first: the yardstick vtserve is measured against.

FastAPI, one `def` endpoint (FastAPI runs it on its thread pool), the upload read into memory, **every**
frame decoded to a list of RGB arrays with PyAV (`container.decode(video=0)`), frames sampled uniformly
from that list, resized/cropped with PIL, normalised, and the PyTorch model (`models.load_pretrained`)
run eagerly on that one clip. No batching, no worker pool, no decode limits. It answers the same things
as vtserve: top-5 labels and the temporal attention.

    python -m bench.baseline --weights models/weights/motion-timesformer --port 8001
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi import FastAPI, File, HTTPException, UploadFile


def decode_all_frames(data: bytes) -> list[np.ndarray]:
    """Every frame of the first video stream, as uint8 RGB `[H, W, 3]` arrays."""
    import av

    frames = []
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
    return frames


def sample_uniform(frames: Sequence[np.ndarray], num_frames: int) -> list[np.ndarray]:
    """Centres of `num_frames` equal segments (the model card's `uniform` policy)."""
    n = len(frames)
    if n == 0:
        raise ValueError("no frames decoded")
    picks = [min(int((i + 0.5) * n / num_frames), n - 1) for i in range(num_frames)]
    return [frames[i] for i in picks]


def resize_crop(frame: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    h, w = frame.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    image = Image.fromarray(frame).resize((nw, nh), Image.Resampling.BILINEAR)
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.asarray(image)[top : top + size, left : left + size]


def create_app(weights: str, *, top_k: int = 5) -> Any:
    import torch

    import models

    model = models.load_pretrained(weights).eval()
    card = model.card
    mean = torch.tensor(card.input.mean, dtype=torch.float32).view(1, 1, 3, 1, 1)
    std = torch.tensor(card.input.std, dtype=torch.float32).view(1, 1, 3, 1, 1)
    app = FastAPI(title="naive baseline")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(file: UploadFile = File(...)) -> dict[str, Any]:
        data = file.file.read()
        try:
            frames = decode_all_frames(data)
        except Exception as exc:  # what a first version does: any decode failure is the client's fault
            raise HTTPException(status_code=400, detail=f"cannot decode: {exc}") from exc
        clip = np.stack(
            [resize_crop(f, card.input.image_size) for f in sample_uniform(frames, card.input.num_frames)]
        )
        del frames
        x = torch.from_numpy(clip).permute(0, 3, 1, 2).float().div(255.0).unsqueeze(0)
        x = (x - mean) / std
        with torch.no_grad():
            out = model(x, return_attention=True)
        probs = out.logits.softmax(-1)[0]
        scores, indices = probs.topk(min(top_k, probs.numel()))
        temporal = out.temporal_attention
        return {
            "labels": [
                {"label": card.labels[i], "score": float(s)}
                for s, i in zip(scores.tolist(), indices.tolist(), strict=True)
            ],
            "temporal": None if temporal is None else temporal[0].tolist(),
        }

    return app


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="checkpoint folder or shipped model name")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.weights), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
