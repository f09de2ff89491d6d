"""PyTorch: runs the model's checkpoint directly (development, and GPUs without TensorRT).

The checkpoint is loaded through `models.load_pretrained` (the bundle's `source`), wrapped exactly as
for export (`export.wrapper.BundleGraph`: uint8 video in, normalisation inside). On CUDA it runs under
bf16 autocast (fp16 where bf16 is unsupported) with PyTorch's SDPA kernels; on CPU in fp32.
torch is imported only when this runtime is chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from export.manifest import OUTPUT_LOGITS, Manifest
from service.runtimes.base import BundleRuntime, RuntimeOptions, input_spec_from_manifest


def _device(torch: Any, wanted: str) -> Any:
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no CUDA GPU")
    if wanted == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


class TorchRuntime(BundleRuntime):
    name = "torch"

    def __init__(self, bundle_dir: Path, manifest: Manifest, options: RuntimeOptions) -> None:
        try:
            import torch

            from export.bundle import pruned
            from export.source import load_source
            from export.wrapper import BundleGraph
        except ImportError as exc:
            raise RuntimeError("the torch runtime needs torch: `make install`") from exc
        self._torch = torch
        source = manifest.source or str(bundle_dir)
        model = load_source(
            source, num_frames=manifest.input.num_frames, image_size=manifest.input.image_size
        )
        model = pruned(model, manifest.keep_ratio)  # the same token budget the exported graph runs on
        names = [o.name for o in manifest.outputs] or [OUTPUT_LOGITS]
        graph = BundleGraph(model, manifest.input.mean, manifest.input.std, output_names=names)
        self._device = _device(torch, options.device)
        self._graph = graph.to(self._device).eval()
        self._names = names
        self._autocast: Any = None
        if self._device.type == "cuda":
            self._autocast = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            self.provider = (
                f"torch {torch.__version__} CUDA {torch.cuda.get_device_name()} ({self._autocast})"
            )
        else:
            self.provider = f"torch {torch.__version__} CPU"
        self.input_spec = input_spec_from_manifest(manifest, max_batch=options.max_batch)

    def _run(self, batch: NDArray[np.uint8]) -> Mapping[str, NDArray[Any]]:
        torch = self._torch
        video = torch.from_numpy(batch).to(self._device, non_blocking=True)
        with torch.inference_mode():
            if self._autocast is not None:
                with torch.autocast(device_type="cuda", dtype=self._autocast):
                    values = self._graph(video)
            else:
                values = self._graph(video)
        return {name: v.float().cpu().numpy() for name, v in zip(self._names, values, strict=True)}

    def close(self) -> None:
        del self._graph
