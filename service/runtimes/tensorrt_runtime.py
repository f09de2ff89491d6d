"""TensorRT: runs the bundle's `model.plan` with TensorRT 10's Python API.

tensorrt (and torch, used for device buffers and the CUDA stream) are imported only when this runtime
is chosen. An engine built for another TensorRT version or GPU is rebuilt from `model.onnx` first.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from export.manifest import (
    OUTPUT_LOGITS,
    OUTPUT_SPATIAL,
    OUTPUT_TEMPORAL,
    PLAN_NAME,
    Manifest,
    sha256_file,
    write_manifest,
)
from service.runtimes.base import (
    InputSpec,
    RuntimeOptions,
    RuntimeOutputs,
    check_batch,
    input_spec_from_manifest,
    warmup_batch,
)

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the tensorrt runtime needs TensorRT 10 and a CUDA build of torch: "
    "`pip install 'vtserve[gpu]'` on a host with an NVIDIA GPU"
)


def _import_tensorrt() -> Any:
    try:
        import tensorrt as trt
        import torch
    except ImportError as exc:
        raise RuntimeError(INSTALL_HINT) from exc
    if not torch.cuda.is_available():
        raise RuntimeError("the tensorrt runtime needs a CUDA GPU; none is visible")
    return trt


def _ensure_engine(bundle_dir: Path, manifest: Manifest, max_batch: int) -> Path:
    """The engine path, rebuilding the engine when it is missing or does not match this host.

    A rebuilt engine is checked against onnxruntime like at export, then replaces `model.plan` and the
    bundle's `model.json` is rewritten (engine facts, parity, file hash), so the next start loads it as
    is: without that, the changed plan would fail the bundle's file check on every later start.
    """
    from export import tensorrt_build  # torch-free helpers
    from export.parity import check_tensorrt_parity, describe_failure

    old = manifest.tensorrt
    plan = bundle_dir / (old.file if old else PLAN_NAME)
    if plan.is_file() and old is not None and tensorrt_build.engine_matches(old):
        return plan
    log.warning("TensorRT engine %s is missing or was built elsewhere; rebuilding it", plan)
    precision = old.precision if old else "fp16"
    fresh = plan.with_name(plan.name + ".rebuilding")
    try:
        info = tensorrt_build.build_engine(
            bundle_dir / "model.onnx",
            fresh,
            precision=precision,
            min_batch=old.min_batch if old else 1,
            opt_batch=min(old.opt_batch, max_batch) if old else None,
            max_batch=max_batch,
        )
        parity = check_tensorrt_parity(
            bundle_dir / "model.onnx", fresh, precision=precision, batches=sorted({1, min(3, max_batch)})
        )
        if not parity.passed:
            raise RuntimeError(
                f"the rebuilt TensorRT engine does not match onnxruntime: {describe_failure(parity)}"
            )
        fresh.replace(plan)
    except OSError as exc:
        raise RuntimeError(
            f"cannot rebuild the TensorRT engine in {bundle_dir} ({exc}); mount the bundle writable, or "
            "export it on this GPU model with `vtserve export ... --format tensorrt`"
        ) from exc
    finally:
        fresh.unlink(missing_ok=True)
    updated = manifest.model_copy(
        update={
            "tensorrt": info.model_copy(update={"file": plan.name, "parity": parity}),
            "files": {**manifest.files, plan.name: sha256_file(plan)},
            "versions": {**manifest.versions, "tensorrt": info.tensorrt_version},
        }
    )
    write_manifest(bundle_dir, updated)
    log.info(
        "rebuilt %s for %s (TensorRT %s); model.json updated", plan, info.gpu_name, info.tensorrt_version
    )
    return plan


class TensorRTRuntime:
    name = "tensorrt"

    def __init__(self, bundle_dir: Path, manifest: Manifest, options: RuntimeOptions) -> None:
        trt = _import_tensorrt()
        import torch

        self._torch = torch
        self._trt = trt
        max_batch = manifest.tensorrt.max_batch if manifest.tensorrt else options.max_batch
        plan = _ensure_engine(Path(bundle_dir), manifest, max_batch)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._engine = trt.Runtime(self._logger).deserialize_cuda_engine(plan.read_bytes())
        if self._engine is None:
            raise RuntimeError(f"TensorRT could not deserialize {plan}")
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._input_name = inputs[0]
        self._outputs = [n for n in (OUTPUT_LOGITS, OUTPUT_TEMPORAL, OUTPUT_SPATIAL) if n in names]
        self.provider = f"TensorRT {trt.__version__} on {torch.cuda.get_device_name()}"
        self.input_spec: InputSpec = input_spec_from_manifest(
            manifest, max_batch=min(max_batch, options.max_batch)
        )

    def warmup(self) -> None:
        self.infer(warmup_batch(self.input_spec, 1))

    def infer(self, batch: NDArray[np.uint8]) -> RuntimeOutputs:
        check_batch(self.input_spec, batch)
        torch = self._torch
        with torch.cuda.stream(self._stream):
            video = torch.from_numpy(np.ascontiguousarray(batch)).cuda(non_blocking=True)
            self._context.set_input_shape(self._input_name, tuple(video.shape))
            self._context.set_tensor_address(self._input_name, video.data_ptr())
            out: dict[str, Any] = {}
            for name in self._outputs:
                shape = tuple(self._context.get_tensor_shape(name))
                half = self._engine.get_tensor_dtype(name) == self._trt.DataType.HALF
                dtype = torch.float16 if half else torch.float32
                out[name] = torch.empty(shape, dtype=dtype, device="cuda")
                self._context.set_tensor_address(name, out[name].data_ptr())
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed")
        self._stream.synchronize()
        host = {name: t.float().cpu().numpy() for name, t in out.items()}
        return RuntimeOutputs(
            logits=host[OUTPUT_LOGITS],
            temporal=host.get(OUTPUT_TEMPORAL),
            spatial=host.get(OUTPUT_SPATIAL),
        )

    def close(self) -> None:
        del self._context
        del self._engine
