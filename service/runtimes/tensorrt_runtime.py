"""TensorRT: runs the bundle's `model.plan`, an engine built beforehand by `vtserve build-engine BUNDLE` or
`vtserve export ... --format tensorrt` on a host like this one.

Builders build, servers serve: this runtime never builds an engine and never writes to the bundle
(replicas share bundle volumes, often read-only). It loads the plan only when `model.json` records it
and the recorded facts hold here: the file's sha256, the TensorRT version, the GPU model and compute
capability. Otherwise it refuses with `EngineRefused`, whose message names the command to run.
tensorrt (and torch, for device buffers and the CUDA stream) are imported only when this runtime is chosen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from export.errors import ExportError
from export.manifest import Manifest, TensorRTInfo
from export.tensorrt_build import engine_mismatch, gpu_identity
from service.runtimes.base import BundleRuntime, RuntimeOptions, input_spec_from_manifest

INSTALL_HINT = (
    "the tensorrt runtime needs TensorRT 10 and a CUDA build of torch: "
    "`pip install 'vtserve[gpu]'` on a host with an NVIDIA GPU"
)


class EngineRefused(RuntimeError):
    """The bundle holds no TensorRT engine this host may load; the message names the command to run."""


def build_command(bundle_dir: Path) -> str:
    return f"vtserve build-engine {bundle_dir}"


def recorded_plan(bundle_dir: Path, manifest: Manifest) -> tuple[TensorRTInfo, bytes]:
    """The engine `model.json` records and the plan's bytes, which must have the recorded sha256.

    Needs neither TensorRT nor a GPU; `EngineRefused` when there is no engine or it changed since it
    was built.
    """
    fix = f"build one on this host with `{build_command(bundle_dir)}` before serving"
    info = manifest.tensorrt
    if info is None:
        raise EngineRefused(f"bundle {bundle_dir} has no TensorRT engine (model.json records none); {fix}")
    path = bundle_dir / info.file
    expected = manifest.files.get(info.file)
    if expected is None:
        raise EngineRefused(f"model.json of {bundle_dir} records no sha256 for {info.file}; {fix}")
    try:
        plan = path.read_bytes()
    except OSError as exc:
        raise EngineRefused(f"cannot read the TensorRT engine {path} ({exc.strerror or exc}); {fix}") from exc
    if hashlib.sha256(plan).hexdigest() != expected:
        raise EngineRefused(f"{path} is not the engine model.json records (its sha256 differs); {fix}")
    return info, plan


def check_host(
    bundle_dir: Path, info: TensorRTInfo, version: str | None, gpu: tuple[str, str] | None
) -> None:
    """`EngineRefused` unless the engine `info` was built with TensorRT `version` for `gpu` (name,
    compute capability): TensorRT loads an engine only where it was built."""
    reason = engine_mismatch(info, version, gpu)
    if reason is not None:
        raise EngineRefused(
            f"cannot load the TensorRT engine of {bundle_dir}: {reason};"
            f" rebuild it here with `{build_command(bundle_dir)}` before serving"
        )


def _import_tensorrt() -> tuple[Any, Any]:
    """(tensorrt, torch), or RuntimeError with the install hint."""
    try:
        import tensorrt as trt
        import torch
    except ImportError as exc:
        raise RuntimeError(INSTALL_HINT) from exc
    if not torch.cuda.is_available():
        raise RuntimeError("the tensorrt runtime needs a CUDA GPU; none is visible")
    return trt, torch


class TensorRTRuntime(BundleRuntime):
    name = "tensorrt"

    def __init__(self, bundle_dir: Path, manifest: Manifest, options: RuntimeOptions) -> None:
        from export.tensorrt_run import EngineRunner

        bundle_dir = Path(bundle_dir)
        info, plan = recorded_plan(bundle_dir, manifest)
        trt, torch = _import_tensorrt()
        device = torch.cuda.current_device()
        check_host(bundle_dir, info, str(trt.__version__), gpu_identity(device))
        try:
            self._runner = EngineRunner(plan, name=str(bundle_dir / info.file))
        except ExportError as exc:  # TensorRT refused the plan, or is not a 10.x release
            raise EngineRefused(str(exc)) from exc
        self.provider = f"TensorRT {trt.__version__} on {torch.cuda.get_device_name(device)}"
        self.input_spec = input_spec_from_manifest(manifest, max_batch=min(info.max_batch, options.max_batch))

    def _run(self, batch: NDArray[np.uint8]) -> Mapping[str, NDArray[Any]]:
        return self._runner(batch)

    def close(self) -> None:
        self._runner.close()
