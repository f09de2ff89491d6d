"""Model bundles: ONNX graphs (and TensorRT engines) with attention outputs, parity-checked against PyTorch.

Torch-free on import: `export.manifest` and `export.tensorrt_build` never import torch, and the
names below that need torch are loaded on first use.

- `build_bundle(source, out_dir, ...)`, `export_model(model, out_dir, ...)`: `export.bundle`
- `check_onnx_parity`, `check_tensorrt_parity`: `export.parity`
- `add_engine` (what `vtserve build-engine` runs): `export.engine`
- `build_engine`, `engine_matches`: `export.tensorrt_build`
- `ExportError` and its subclasses: `export.errors`
"""

from __future__ import annotations

import importlib
from typing import Any

from export.errors import ExportError

_LAZY = {
    "build_bundle": "export.bundle",
    "export_model": "export.bundle",
    "check_onnx_parity": "export.parity",
    "check_tensorrt_parity": "export.parity",
    "add_engine": "export.engine",
    "build_engine": "export.tensorrt_build",
    "engine_matches": "export.tensorrt_build",
}

__all__ = ["ExportError", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'export' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
