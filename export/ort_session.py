"""Open an exported graph in onnxruntime, turning "cannot run this op" into a one-line export error.

Torch-free. `onnxruntime-gpu` imports on CPU hosts and silently falls back to CPU; `open_session`
returns the session and callers can read `session.get_providers()` for what is really used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from export.errors import UnsupportedOpError
from export.manifest import INPUT_NAME

_NOT_IMPLEMENTED = re.compile(r"implementation for (\w+)\((\d+)\)")
_NO_SCHEMA = re.compile(r"No Op registered for (\w+) with domain_version of (\d+)")
_NOT_REGISTERED = re.compile(r"([\w.]+:\w+|\w+)\((-?\d+)\) is not a registered function/op")


def open_session(onnx_path: Path, providers: Sequence[str] = ("CPUExecutionProvider",)) -> Any:
    """An `onnxruntime.InferenceSession` for `onnx_path`; `UnsupportedOpError` for ops it cannot run."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(onnx_path), sess_options=options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises its own Fail/NotImplemented/InvalidGraph types
        message = " ".join(str(exc).split())
        match = (
            _NOT_IMPLEMENTED.search(message) or _NO_SCHEMA.search(message) or _NOT_REGISTERED.search(message)
        )
        if match is None and "NOT_IMPLEMENTED" not in message:
            raise
        if match is None:
            op = "an operator"
        elif match.group(2).startswith("-"):
            op = f"operator {match.group(1)}"
        else:
            op = f"operator {match.group(1)} (opset {match.group(2)})"
        raise UnsupportedOpError(
            f"onnxruntime {ort.__version__} cannot run {op} in {Path(onnx_path).name}",
            "upgrade onnxruntime (pip install -U onnxruntime), or change the model so the op is not "
            "exported (e.g. a different attention or resize implementation)",
        ) from exc


def random_video(batch: int, num_frames: int, image_size: int, seed: int) -> np.ndarray:
    """Random uint8 RGB video `[batch, T, H, W, 3]` (the bundle's input layout)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(batch, num_frames, image_size, image_size, 3), dtype=np.uint8)


def input_geometry(session: Any) -> tuple[int, int]:
    """(num_frames, image_size) from the session's `video` input `[batch, T, H, W, 3]`."""
    inputs = {i.name: i for i in session.get_inputs()}
    if INPUT_NAME not in inputs:
        raise ValueError(f"graph has no input named {INPUT_NAME!r} (inputs: {sorted(inputs)})")
    shape = inputs[INPUT_NAME].shape
    if len(shape) != 5 or not all(isinstance(d, int) for d in shape[1:4]):
        raise ValueError(f"input {INPUT_NAME!r} must be [batch, T, H, W, 3] with fixed T, H, W; got {shape}")
    return int(shape[1]), int(shape[2])


def run_session(session: Any, video: np.ndarray) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {INPUT_NAME: video})
    return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}
