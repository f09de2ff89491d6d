"""ONNX Runtime: the default runtime. Providers in the configured order (TensorRT → CUDA → CPU),
skipping those this onnxruntime build lacks, and reporting the provider the session really uses
(onnxruntime-gpu silently falls back to CPU when the CUDA libraries are missing)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from export.manifest import ONNX_NAME, OUTPUT_LOGITS, OUTPUT_SPATIAL, OUTPUT_TEMPORAL, Manifest
from service.runtimes.base import BundleRuntime, RuntimeOptions, input_spec_from_manifest, warmup_batch

log = logging.getLogger(__name__)

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def choose_providers(preferred: tuple[str, ...], available: list[str]) -> list[str]:
    """The configured providers this build offers, in order; CPU is always the last resort."""
    chosen = [PROVIDER_NAMES[p] for p in preferred if PROVIDER_NAMES.get(p) in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


class OnnxRuntime(BundleRuntime):
    name = "onnxruntime"

    def __init__(self, bundle_dir: Path, manifest: Manifest, options: RuntimeOptions) -> None:
        path = Path(bundle_dir) / ONNX_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found")
        session_options = ort.SessionOptions()
        if options.intra_op_threads:
            session_options.intra_op_num_threads = options.intra_op_threads
        requested = choose_providers(options.providers, ort.get_available_providers())
        self._session = ort.InferenceSession(str(path), sess_options=session_options, providers=requested)
        in_use = self._session.get_providers()
        self.provider = in_use[0] if in_use else "CPUExecutionProvider"
        if requested and self.provider != requested[0]:
            log.warning("onnxruntime asked for %s but uses %s", requested[0], self.provider)
        self._input_name = self._session.get_inputs()[0].name
        names = {o.name for o in self._session.get_outputs()}
        self._outputs = [n for n in (OUTPUT_LOGITS, OUTPUT_TEMPORAL, OUTPUT_SPATIAL) if n in names]
        if OUTPUT_LOGITS not in names:
            raise ValueError(f"{path} has no `{OUTPUT_LOGITS}` output")
        self.input_spec = input_spec_from_manifest(manifest, max_batch=options.max_batch)

    def warmup(self) -> None:
        for batch in sorted({1, min(2, self.input_spec.max_batch or 1)}):
            self.infer(warmup_batch(self.input_spec, batch))

    def _run(self, batch: NDArray[np.uint8]) -> Mapping[str, NDArray[Any]]:
        values = self._session.run(self._outputs, {self._input_name: batch})
        return dict(zip(self._outputs, values, strict=True))

    def close(self) -> None:
        del self._session
