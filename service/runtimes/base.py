"""The one protocol every inference runtime implements, the plain data it exchanges, and `BundleRuntime`,
the part every implementation shares (batch checks, output naming, warm-up).

A runtime takes a batch of sampled clips as uint8 `[B, T, H, W, 3]` RGB (normalisation happens inside
the model) and returns logits plus, when the model has them, attention maps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from export.manifest import OUTPUT_LOGITS, OUTPUT_SPATIAL, OUTPUT_TEMPORAL, Manifest


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """What `infer` accepts: uint8 `[B, num_frames, height, width, channels]`, 1 ≤ B ≤ max_batch."""

    name: str
    num_frames: int
    height: int
    width: int
    channels: int = 3
    dtype: str = "uint8"
    max_batch: int | None = None

    def shape(self, batch: int) -> tuple[int, int, int, int, int]:
        return (batch, self.num_frames, self.height, self.width, self.channels)


@dataclass(frozen=True, kw_only=True)
class RuntimeOutputs:
    """Per-batch outputs. `temporal` is `[B, T', T']` (rows sum to 1), `spatial` `[B, T', h, w]`."""

    logits: NDArray[np.float32]
    temporal: NDArray[np.float32] | None = None
    spatial: NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        batch = self.logits.shape[0]
        for name, value in (("temporal", self.temporal), ("spatial", self.spatial)):
            if value is not None and value.shape[0] != batch:
                raise ValueError(f"{name} has batch {value.shape[0]}, logits have {batch}")


@dataclass(frozen=True, kw_only=True)
class RuntimeOptions:
    """How to build a runtime; filled from `Settings` by `service.loading.runtime_options`."""

    providers: tuple[str, ...] = ("tensorrt", "cuda", "cpu")
    intra_op_threads: int = 0
    device: str = "auto"
    max_batch: int = 8


class Runtime(Protocol):
    """An inference backend for one loaded bundle."""

    name: str  # "onnxruntime", "tensorrt", "torch"
    input_spec: InputSpec
    provider: str  # the execution provider / device really in use, e.g. "CPUExecutionProvider"

    def warmup(self) -> None:
        """Run a few dummy batches so the first request does not pay for lazy initialisation."""
        ...

    def infer(self, batch: NDArray[np.uint8]) -> RuntimeOutputs: ...

    def close(self) -> None: ...


def input_spec_from_manifest(manifest: Manifest, max_batch: int | None = None) -> InputSpec:
    """The graph input recorded in the manifest (itself the input contract's `[batch, T, H, W, 3]`)."""
    tensor = manifest.inputs[0]
    _, frames, height, width, channels = tensor.shape
    return InputSpec(
        name=tensor.name,
        num_frames=int(frames),
        height=int(height),
        width=int(width),
        channels=int(channels),
        max_batch=max_batch,
    )


def check_batch(spec: InputSpec, batch: NDArray[np.uint8]) -> None:
    """Raise ValueError unless `batch` matches the input spec (catches wiring bugs before the runtime)."""
    if batch.dtype != np.uint8 or batch.ndim != 5 or batch.shape[1:] != spec.shape(1)[1:]:
        raise ValueError(f"batch {batch.dtype}{list(batch.shape)} does not match {spec}")
    if spec.max_batch is not None and batch.shape[0] > spec.max_batch:
        raise ValueError(f"batch of {batch.shape[0]} exceeds the runtime's max batch {spec.max_batch}")


def warmup_batch(spec: InputSpec, batch: int = 1) -> NDArray[np.uint8]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=spec.shape(batch), dtype=np.uint8)


def outputs_from(values: Mapping[str, NDArray[Any]]) -> RuntimeOutputs:
    """`RuntimeOutputs` (float32) from arrays named as in a bundle: logits and the attention maps it has."""
    temporal, spatial = values.get(OUTPUT_TEMPORAL), values.get(OUTPUT_SPATIAL)
    return RuntimeOutputs(
        logits=np.asarray(values[OUTPUT_LOGITS], dtype=np.float32),
        temporal=None if temporal is None else np.asarray(temporal, dtype=np.float32),
        spatial=None if spatial is None else np.asarray(spatial, dtype=np.float32),
    )


class BundleRuntime(ABC):
    """What every runtime does around its engine: check each batch against `input_spec`, name the
    outputs, warm up. A runtime sets `input_spec` and `provider` and implements `_run` and `close`."""

    name: str
    input_spec: InputSpec
    provider: str

    def warmup(self) -> None:
        self.infer(warmup_batch(self.input_spec, 1))

    def infer(self, batch: NDArray[np.uint8]) -> RuntimeOutputs:
        check_batch(self.input_spec, batch)
        return outputs_from(self._run(np.ascontiguousarray(batch)))

    @abstractmethod
    def _run(self, batch: NDArray[np.uint8]) -> Mapping[str, NDArray[Any]]:
        """The model's outputs for a checked, contiguous batch, by output name."""

    @abstractmethod
    def close(self) -> None: ...
