"""Run a TensorRT engine on host arrays: the parity checks of export and the tensorrt runtime both use it.

Device buffers and the CUDA stream come from torch (CUDA build), imported lazily. Written against
TensorRT 10.x: `Runtime.deserialize_cuda_engine`, `num_io_tensors`/`get_tensor_name`/`get_tensor_mode`,
`set_input_shape`, `set_tensor_address`, `execute_async_v3`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from export.errors import TensorRTBuildError, tensorrt_missing
from export.manifest import INPUT_NAME, PLAN_NAME
from export.tensorrt_build import import_tensorrt


def _cuda_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise tensorrt_missing("running an engine needs torch with CUDA for device buffers") from exc
    if not torch.cuda.is_available():
        raise tensorrt_missing("torch sees no CUDA device (install a CUDA build of torch)")
    return torch


class EngineRunner:
    """One deserialised engine with its execution context and CUDA stream.

    Call it with a uint8 `[B, T, H, W, 3]` host array; it returns every engine output as float32 host
    arrays, by tensor name.
    """

    def __init__(self, plan: bytes, *, name: str = PLAN_NAME) -> None:
        trt = self._trt = import_tensorrt()
        self._torch = _cuda_torch()
        self.trt_version = str(trt.__version__)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise TensorRTBuildError(
                f"TensorRT could not load {name}", "rebuild the engine on this machine (vtserve build-engine)"
            )
        self.context = self.engine.create_execution_context()
        self._stream = self._torch.cuda.Stream()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]

    @classmethod
    def from_file(cls, plan_path: Path) -> EngineRunner:
        return cls(Path(plan_path).read_bytes(), name=Path(plan_path).name)

    def _output_buffer(self, name: str) -> Any:
        """A device tensor of the output's dtype and its shape for the current input shape, bound to it."""
        torch = self._torch
        shape = tuple(self.context.get_tensor_shape(name))
        np_dtype = np.dtype(self._trt.nptype(self.engine.get_tensor_dtype(name)))
        torch_dtype = torch.from_numpy(np.empty(0, dtype=np_dtype)).dtype
        buffer = torch.empty(shape, dtype=torch_dtype, device="cuda")
        self.context.set_tensor_address(name, buffer.data_ptr())
        return buffer

    def __call__(self, video: np.ndarray) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.cuda.stream(self._stream):
            inp = torch.from_numpy(np.ascontiguousarray(video)).cuda(non_blocking=True)
            if not self.context.set_input_shape(INPUT_NAME, tuple(video.shape)):
                raise ValueError(f"input shape {tuple(video.shape)} is outside the engine's profile")
            self.context.set_tensor_address(INPUT_NAME, inp.data_ptr())
            buffers = {name: self._output_buffer(name) for name in self.output_names}
            if not self.context.execute_async_v3(self._stream.cuda_stream):
                raise TensorRTBuildError("TensorRT execution failed", "rebuild the engine on this machine")
        self._stream.synchronize()
        return {name: buf.float().cpu().numpy() for name, buf in buffers.items()}

    def close(self) -> None:
        del self.context
        del self.engine
