"""What the LitServe peer runs, free of LitServe so it can be tested in the project's environment.

`PeerModel` is the code a LitServe user would put in a `LitAPI`: decode an upload into the model's clip
with the project's pure decode function (`service.decoding.decoder.decode_clip`: PyAV, the sampling,
resize and crop of the bundle's input contract, in this process: no decoder pool, no service), run a
batch of clips through one onnxruntime session on the bundle's `model.onnx` (uint8 `[B, T, H, W, 3]` in,
as vtserve feeds it), and answer softmax top-k labels (`service.postprocess`, as vtserve scores them) and
the temporal attention in vtserve's shape
(`{"labels": [{"label", "score"}], "temporal": ...}`).

It needs numpy, onnxruntime, PyAV and pydantic (for `export.manifest`), which the peer's venv has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from export.manifest import ONNX_NAME, OUTPUT_LOGITS, OUTPUT_TEMPORAL, read_manifest
from service.decoding.decoder import decode_clip
from service.decoding.types import DecodeLimits, DecodeRequest
from service.postprocess import softmax, top_k

Answer = dict[str, Any]


class PeerModel:
    """One worker's model: decode uploads, classify batches of clips, answer like vtserve."""

    def __init__(
        self, bundle: Path, request: DecodeRequest, *, intra_op_threads: int = 0, top_k: int = 5
    ) -> None:
        manifest = read_manifest(bundle)
        options = ort.SessionOptions()
        if intra_op_threads:  # 0: onnxruntime's default, as vtserve's `intra_op_threads` means it
            options.intra_op_num_threads = intra_op_threads
        self.session = ort.InferenceSession(
            str(bundle / ONNX_NAME), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        names = {o.name for o in self.session.get_outputs()}
        self.outputs = [n for n in (OUTPUT_LOGITS, OUTPUT_TEMPORAL) if n in names]
        self.labels = list(manifest.labels)
        self.request = request
        self.limits = DecodeLimits()
        self.top_k = min(top_k, len(self.labels))

    def decode(self, data: bytes) -> NDArray[np.uint8]:
        """The model's clip `[T, H, W, 3]` of one upload."""
        return decode_clip(data, self.request, self.limits).frames

    def predict(self, clips: list[NDArray[np.uint8]]) -> list[Answer]:
        """One batch through the session; an answer per clip, in order."""
        values = self.session.run(self.outputs, {self.input_name: np.stack(clips)})
        outputs = dict(zip(self.outputs, values, strict=True))
        scores = softmax(outputs[OUTPUT_LOGITS])
        temporal = outputs.get(OUTPUT_TEMPORAL)
        answers = []
        for i, row in enumerate(scores):
            answers.append(
                {
                    "labels": [
                        {"label": label, "score": score}
                        for label, score in top_k(row, self.labels, self.top_k)
                    ],
                    "temporal": None if temporal is None else temporal[i].tolist(),
                }
            )
        return answers
