"""Run a TensorRT engine on host arrays, for parity checks at export time.

Device buffers come from torch (CUDA build), imported lazily; the serving path has its own runtime.
Written against TensorRT 10.x: `Runtime.deserialize_cuda_engine`, `set_input_shape`,
`set_tensor_address`, `execute_async_v3`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from export.errors import TensorRTBuildError, tensorrt_missing
from export.manifest import INPUT_NAME
from export.tensorrt_build import import_tensorrt


class EngineRunner:
    """One deserialised engine and execution context; call it with a uint8 `[B, T, H, W, 3]` array."""

    def __init__(self, plan_path: Path) -> None:
        self._trt = import_tensorrt()
        try:
            import torch
        except ImportError as exc:
            raise tensorrt_missing("running an engine needs torch with CUDA for device buffers") from exc
        if not torch.cuda.is_available():
            raise tensorrt_missing("torch sees no CUDA device (install a CUDA build of torch)")
        self._torch: Any = torch
        self.trt_version = str(self._trt.__version__)
        trt = self._trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(Path(plan_path).read_bytes())
        if self.engine is None:
            raise TensorRTBuildError(
                f"TensorRT could not load {Path(plan_path).name}",
                "rebuild the engine on this machine (vtserve export ... --format tensorrt)",
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]

    def __call__(self, video: np.ndarray) -> dict[str, np.ndarray]:
        torch, trt = self._torch, self._trt
        stream = torch.cuda.current_stream()
        inp = torch.from_numpy(np.ascontiguousarray(video)).cuda()
        if not self.context.set_input_shape(INPUT_NAME, tuple(video.shape)):
            raise ValueError(f"input shape {tuple(video.shape)} is outside the engine's profile")
        self.context.set_tensor_address(INPUT_NAME, inp.data_ptr())
        buffers: dict[str, Any] = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            np_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            torch_dtype = torch.from_numpy(np.empty(0, dtype=np_dtype)).dtype
            buffers[name] = torch.empty(shape, dtype=torch_dtype, device="cuda")
            self.context.set_tensor_address(name, buffers[name].data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise TensorRTBuildError("TensorRT execution failed", "rebuild the engine on this machine")
        stream.synchronize()
        return {name: buf.float().cpu().numpy() for name, buf in buffers.items()}
