"""Server and model metadata of the protocol, projected from a bundle's manifest; inputs checked against it.

A model's inputs are the graph's own (`video`: UINT8 `[-1, T, H, W, 3]`, frames decoded and sampled as the
model expects) plus `clip`: BYTES `[-1]`, encoded video files that the server decodes and samples itself.
Its outputs are the graph's (`logits`, and `temporal_attention` / `spatial_attention` when exported).
Shapes are read from the manifest's `TensorSpec`s; a symbolic dimension (the batch axis) becomes -1.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from export.manifest import TensorSpec
from service.errors import BadRequest
from service.oip.request import InferRequest
from service.oip.tensors import BYTES, Tensor

SERVER_NAME = "vtserve"
EXTENSIONS = ("binary_tensor_data", "classification")
CLIP_INPUT = "clip"
LABELS_OUTPUT = "labels"

_DATATYPE_OF = {"uint8": "UINT8", "float32": "FP32", "float16": "FP16"}
_PLATFORM_OF = {"onnxruntime": "onnxruntime_onnx", "tensorrt": "tensorrt_plan", "torch": "pytorch"}


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorMetadata(_Response):
    name: str
    datatype: str
    shape: list[int]


class ServerMetadata(_Response):
    name: str
    version: str
    extensions: list[str]


class ModelMetadata(_Response):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class LiveResponse(_Response):
    live: bool


class ReadyResponse(_Response):
    ready: bool


class ModelReadyResponse(_Response):
    name: str
    ready: bool


def server_metadata(version: str) -> ServerMetadata:
    return ServerMetadata(name=SERVER_NAME, version=version, extensions=list(EXTENSIONS))


def dims(shape: Sequence[int | str]) -> list[int]:
    """A manifest shape in the protocol's terms: symbolic dimensions ("batch") become -1."""
    return [d if isinstance(d, int) else -1 for d in shape]


def tensor_metadata(spec: TensorSpec) -> TensorMetadata:
    return TensorMetadata(name=spec.name, datatype=_DATATYPE_OF[spec.dtype], shape=dims(spec.shape))


def platform(runtime: str) -> str:
    """The protocol's platform string for one of our runtimes (Triton's names where they exist)."""
    return _PLATFORM_OF.get(runtime, runtime)


def model_metadata(
    name: str,
    *,
    version: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    runtime: str,
) -> ModelMetadata:
    """A model's metadata from its manifest's `version`, graph `inputs` and `outputs`, and its runtime."""
    clip = TensorMetadata(name=CLIP_INPUT, datatype=BYTES, shape=[-1])
    return ModelMetadata(
        name=name,
        versions=[version],
        platform=platform(runtime),
        inputs=[*(tensor_metadata(spec) for spec in inputs), clip],
        outputs=[tensor_metadata(spec) for spec in outputs],
    )


def _shape_fits(shape: Sequence[int], declared: Sequence[int]) -> bool:
    if len(shape) != len(declared):
        return False
    return all((d == -1 and s >= 1) or d == s for s, d in zip(shape, declared, strict=True))


def check_input(tensor: Tensor, declared: TensorMetadata) -> None:
    """BadRequest unless the tensor has the declared datatype and shape (a -1 dimension: at least 1)."""
    if tensor.datatype != declared.datatype:
        raise BadRequest(
            f"input {tensor.name!r}: datatype {tensor.datatype}, the model expects {declared.datatype}"
        )
    if not _shape_fits(tensor.shape, declared.shape):
        raise BadRequest(
            f"input {tensor.name!r}: shape {list(tensor.shape)}, the model expects {declared.shape} "
            "(-1: any size of at least 1)"
        )


def model_input(request: InferRequest, metadata: ModelMetadata) -> Tensor:
    """The request's one input, checked against the model's declared inputs (`video` or `clip`)."""
    declared = {spec.name: spec for spec in metadata.inputs}
    names = " or ".join(repr(n) for n in declared)
    if len(request.inputs) != 1:
        raise BadRequest(f"model {metadata.name!r} takes exactly one input, {names}")
    tensor = request.inputs[0]
    spec = declared.get(tensor.name)
    if spec is None:
        raise BadRequest(f"model {metadata.name!r} has no input {tensor.name!r}; it takes {names}")
    check_input(tensor, spec)
    return tensor
