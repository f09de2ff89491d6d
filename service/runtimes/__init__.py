"""Inference runtimes, chosen by name. Each lives in its own module and is imported only when chosen,
so the onnxruntime serving path never imports torch or tensorrt."""

from __future__ import annotations

import importlib
from pathlib import Path

from export.manifest import Manifest
from service.runtimes.base import InputSpec, Runtime, RuntimeOptions, RuntimeOutputs

# name -> "module:class"; the class is constructed as cls(bundle_dir, manifest, options).
RUNTIMES: dict[str, str] = {
    "onnxruntime": "service.runtimes.onnx_runtime:OnnxRuntime",
    "tensorrt": "service.runtimes.tensorrt_runtime:TensorRTRuntime",
    "torch": "service.runtimes.torch_runtime:TorchRuntime",
}


def create_runtime(name: str, bundle_dir: Path, manifest: Manifest, options: RuntimeOptions) -> Runtime:
    try:
        target = RUNTIMES[name]
    except KeyError:
        raise ValueError(f"unknown runtime {name!r}; choose one of {sorted(RUNTIMES)}") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    runtime: Runtime = cls(bundle_dir, manifest, options)
    return runtime


__all__ = ["RUNTIMES", "InputSpec", "Runtime", "RuntimeOptions", "RuntimeOutputs", "create_runtime"]
