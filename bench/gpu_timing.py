"""Timing one GPU benchmark configuration: the runner (eager or CUDA-graph replay) and two clocks.

`time_compute`: the forward with the input already on the device (CUDA events on GPU).
`time_runtime`: the `TorchRuntime.infer` path, host uint8 → device → forward → outputs back as float.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Config:
    dtype: str  # "bf16" | "fp16" | "fp32"
    attention_kernel: str  # "sdpa" | "explicit"
    attention_outputs: bool
    cuda_graph: bool
    batch: int


def _dtype(torch: Any, name: str) -> Any:
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


class Runner:
    """One configuration of the graph on one device: `__call__(x_on_device) -> outputs on device`."""

    def __init__(self, torch: Any, graph: Any, device: Any, config: Config) -> None:
        self.torch = torch
        self.graph = graph
        self.device = device
        self.config = config
        self.autocast_dtype = _dtype(torch, config.dtype)
        self._captured: Any = None
        self._static_in: Any = None
        self._static_out: Any = None

    def _forward(self, x: Any) -> Any:
        torch = self.torch
        with torch.inference_mode():
            if self.config.dtype == "fp32":
                return self.graph(x)
            # cache_enabled=False: required for CUDA-graph capture, harmless otherwise
            with torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype, cache_enabled=False):
                return self.graph(x)

    def prepare(self, example: Any) -> None:
        """Warm up; with `cuda_graph`, capture the forward for this input shape."""
        torch = self.torch
        if not self.config.cuda_graph:
            self._forward(example)
            return
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._forward(example)
        torch.cuda.current_stream().wait_stream(side)
        self._static_in = example.clone()
        self._captured = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._captured):
            self._static_out = self._forward(self._static_in)

    def __call__(self, x: Any) -> Any:
        if self._captured is None:
            return self._forward(x)
        self._static_in.copy_(x, non_blocking=True)
        self._captured.replay()
        return self._static_out


def _sync(torch: Any, device: Any) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_compute(torch: Any, runner: Runner, x: Any, iters: int) -> float:
    """Median milliseconds per call with the input on the device (CUDA events on GPU)."""
    times = []
    for _ in range(iters):
        if runner.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            runner(x)
            end.record()
            end.synchronize()
            times.append(float(start.elapsed_time(end)))
        else:
            t0 = time.perf_counter()
            runner(x)
            times.append(1000.0 * (time.perf_counter() - t0))
    return statistics.median(times)


def time_runtime(torch: Any, runner: Runner, host_batch: Any, iters: int) -> float:
    """Median milliseconds of the `TorchRuntime.infer` path: host uint8 → device → forward → host float."""
    import numpy as np

    times = []
    for _ in range(iters):
        _sync(torch, runner.device)
        t0 = time.perf_counter()
        video = torch.from_numpy(np.ascontiguousarray(host_batch)).to(runner.device, non_blocking=True)
        outputs = runner(video)
        [o.float().cpu().numpy() for o in outputs]
        times.append(1000.0 * (time.perf_counter() - t0))
    return statistics.median(times)
