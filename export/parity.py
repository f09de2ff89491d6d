"""Parity checks: does an exported graph reproduce its reference? Used by export and by the tests.

- `check_onnx_parity`: `model.onnx` in onnxruntime (CPU) against the PyTorch model, fed the same random
  uint8 frames (PyTorch gets them through `export.wrapper.normalize_video`, the graph normalises inside).
  fp32 tolerance `ONNX_TOLERANCE` = 1e-4 absolute on logits and attention maps.
- `check_tensorrt_parity`: `model.plan` against `model.onnx` in onnxruntime. fp16 tolerance
  `TENSORRT_FP16_TOLERANCE` = 1e-2 absolute on logits and on attention maps (probabilities in [0, 1]);
  fp32 engines (TF32 may be used for matmuls) get `TENSORRT_FP32_TOLERANCE` = 1e-3.

Top-1 agrees when the candidate's top class is the reference's, or is within the tolerance of the
reference's top score in the reference's own logits (a near-tie that the precision cannot decide).
A check passes when every case's max |Δlogit| ≤ tolerance, top-1 agrees, and attention differs by
at most the tolerance. This module imports torch only inside `check_onnx_parity`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from export.manifest import OUTPUT_LOGITS, OUTPUT_SPATIAL, OUTPUT_TEMPORAL, ParityCase, ParityReport
from export.ort_session import input_geometry, open_session, random_video, run_session

if TYPE_CHECKING:
    from torch import nn

ONNX_TOLERANCE = 1e-4
TENSORRT_FP16_TOLERANCE = 1e-2
TENSORRT_FP32_TOLERANCE = 1e-3
PARITY_BATCHES = (1, 3)

Outputs = Mapping[str, np.ndarray]


def top1_agrees(reference: np.ndarray, candidate: np.ndarray, tolerance: float) -> bool:
    """Per-row top-1 agreement of `[B, C]` logits, forgiving near-ties within `tolerance`."""
    ref_top = reference.argmax(axis=1)
    cand_top = candidate.argmax(axis=1)
    rows = np.arange(reference.shape[0])
    same = ref_top == cand_top
    near_tie = reference[rows, cand_top] >= reference[rows, ref_top] - tolerance
    return bool(np.all(same | near_tie))


def compare_outputs(
    reference: Outputs, candidate: Outputs, tolerance: float, batch: int
) -> tuple[ParityCase, float | None]:
    """One parity case from two output dicts; also the max |Δ| over the attention maps both have."""
    ref_logits = np.asarray(reference[OUTPUT_LOGITS], dtype=np.float64)
    cand_logits = np.asarray(candidate[OUTPUT_LOGITS], dtype=np.float64)
    if ref_logits.shape != cand_logits.shape:
        raise ValueError(f"logits shapes differ: {ref_logits.shape} vs {cand_logits.shape}")
    case = ParityCase(
        batch=batch,
        max_abs_logit_diff=float(np.max(np.abs(ref_logits - cand_logits))),
        top1_agree=top1_agrees(ref_logits, cand_logits, tolerance),
    )
    attention_diff: float | None = None
    for name in (OUTPUT_TEMPORAL, OUTPUT_SPATIAL):
        if name in reference and name in candidate:
            ref = np.asarray(reference[name], dtype=np.float64)
            cand = np.asarray(candidate[name], dtype=np.float64)
            if ref.shape != cand.shape:
                raise ValueError(f"{name} shapes differ: {ref.shape} vs {cand.shape}")
            diff = float(np.max(np.abs(ref - cand)))
            attention_diff = diff if attention_diff is None else max(attention_diff, diff)
    return case, attention_diff


def run_parity(
    reference: Callable[[np.ndarray], Outputs],
    candidate: Callable[[np.ndarray], Outputs],
    *,
    num_frames: int,
    image_size: int,
    reference_name: str,
    candidate_name: str,
    tolerance: float,
    batches: Sequence[int] = PARITY_BATCHES,
    seed: int = 0,
) -> ParityReport:
    """Feed both sides the same random uint8 video at each batch size and collect a report."""
    cases: list[ParityCase] = []
    attention: float | None = None
    for i, batch in enumerate(batches):
        video = random_video(batch, num_frames, image_size, seed + i)
        case, diff = compare_outputs(reference(video), candidate(video), tolerance, batch)
        cases.append(case)
        if diff is not None:
            attention = diff if attention is None else max(attention, diff)
    passed = all(c.max_abs_logit_diff <= tolerance and c.top1_agree for c in cases) and (
        attention is None or attention <= tolerance
    )
    return ParityReport(
        reference=reference_name,
        candidate=candidate_name,
        tolerance=tolerance,
        passed=passed,
        cases=cases,
        max_abs_attention_diff=attention,
    )


def torch_reference(
    model: nn.Module, mean: Sequence[float], std: Sequence[float], attention: bool
) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A callable running `model` in float32 on uint8 video normalised by `normalize_video`."""
    import torch

    from export.wrapper import channel_stats, normalize_video

    mean_t, std_t = channel_stats(mean), channel_stats(std)

    @torch.no_grad()
    def run(video: np.ndarray) -> dict[str, np.ndarray]:
        x = normalize_video(torch.from_numpy(video), mean_t, std_t)
        out = model(x, return_attention=attention)
        result = {OUTPUT_LOGITS: out.logits.float().numpy()}
        if out.temporal_attention is not None:
            result[OUTPUT_TEMPORAL] = out.temporal_attention.float().numpy()
        if out.spatial_attention is not None:
            result[OUTPUT_SPATIAL] = out.spatial_attention.float().numpy()
        return result

    return run


def check_onnx_parity(
    model: nn.Module,
    onnx_path: Path,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    batches: Sequence[int] = PARITY_BATCHES,
    tolerance: float = ONNX_TOLERANCE,
    seed: int = 0,
    session: Any = None,
) -> ParityReport:
    """Compare `model.onnx` (onnxruntime, CPU) with `model` (PyTorch, eval, float32) on random uint8 video.

    `mean`/`std` default to `model.card`'s. Attention maps are compared when the graph outputs them.
    Raises `UnsupportedOpError` when onnxruntime cannot run the graph; a failed comparison is
    reported (`passed=False`), not raised.
    """
    card = getattr(model, "card", None)
    mean = mean if mean is not None else card.input.mean  # type: ignore[union-attr]
    std = std if std is not None else card.input.std  # type: ignore[union-attr]
    session = session if session is not None else open_session(Path(onnx_path))
    num_frames, image_size = input_geometry(session)
    has_attention = len(session.get_outputs()) > 1
    model.eval()
    return run_parity(
        torch_reference(model, mean, std, has_attention),
        lambda video: run_session(session, video),
        num_frames=num_frames,
        image_size=image_size,
        reference_name="pytorch (float32, CPU)",
        candidate_name="onnxruntime (" + ",".join(session.get_providers()) + ")",
        tolerance=tolerance,
        batches=batches,
        seed=seed,
    )


def check_tensorrt_parity(
    onnx_path: Path,
    plan_path: Path,
    *,
    precision: str = "fp16",
    batches: Sequence[int] = PARITY_BATCHES,
    tolerance: float | None = None,
    seed: int = 0,
) -> ParityReport:
    """Compare a TensorRT engine with its `model.onnx` in onnxruntime (CPU) on random uint8 video.

    Raises `TensorRTUnavailableError` when TensorRT, a GPU or CUDA-enabled torch is missing. The
    batches must lie inside the engine's optimisation profile.
    """
    from export.tensorrt_run import EngineRunner

    if tolerance is None:
        tolerance = TENSORRT_FP16_TOLERANCE if precision == "fp16" else TENSORRT_FP32_TOLERANCE
    runner = EngineRunner.from_file(Path(plan_path))
    session = open_session(Path(onnx_path))
    num_frames, image_size = input_geometry(session)
    return run_parity(
        lambda video: run_session(session, video),
        runner,
        num_frames=num_frames,
        image_size=image_size,
        reference_name="onnxruntime (CPUExecutionProvider, float32)",
        candidate_name=f"tensorrt {runner.trt_version} ({precision})",
        tolerance=tolerance,
        batches=batches,
        seed=seed,
    )


def describe_failure(report: ParityReport) -> str:
    """One line with the numbers of a failed report."""
    cases = ", ".join(
        f"batch {c.batch}: max|Δlogit| {c.max_abs_logit_diff:.3g},"
        f" top-1 {'agrees' if c.top1_agree else 'differs'}"
        for c in report.cases
    )
    attention = (
        f", max|Δattention| {report.max_abs_attention_diff:.3g}"
        if report.max_abs_attention_diff is not None
        else ""
    )
    return f"{report.candidate} vs {report.reference} (tolerance {report.tolerance:g}): {cases}{attention}"
