"""INT8 for CPUs: a graph's linear layers dynamically quantized (`vtserve export --quantize int8`).

`quantize_int8` rewrites `model.onnx` with onnxruntime's dynamic quantization restricted to the linear
layers: `MatMul` nodes whose weight (input B) is a constant. Their weights are stored as int8 (per output
channel) and their activations quantized to uint8 on the fly, batch by batch (`DynamicQuantizeLinear` +
`MatMulInteger`); everything else stays float32: the attention products (query·key and weights·value, both
activations), softmax, layer norms, the patch embedding (a `Conv`), the classifier head (a `Gemm` on the
class token, rewritten by onnxruntime as a float `MatMul`: a negligible share of the work, and the layer
whose error reaches the logits undamped), and the attention outputs.

Parity for a quantized graph is not a tolerance: int8 moves logits by more than 1e-4. `check_int8_parity`
runs the float32 graph (itself checked against PyTorch first) and the int8 graph on the export's own check
set, `PARITY_CLIPS` random uint8 clips, and passes when top-1 agrees on at least `MIN_TOP1_AGREEMENT` of
them, a near-tie counting as agreement as in `export.parity`: the int8 graph's top class scores within
`TIE_BAND` of the clip's logit range below the float32 top in the float32 logits. Random clips are rich in
near-ties (for the shipped motion-timesformer, 16% of them have their top two classes within 1% of the
range), so the strict agreement is recorded too, with the largest |Δlogit| and |Δattention|, in
`model.json` (`quantized_parity`). Activations are quantized per tensor, over the whole batch: a clip's
int8 outputs move slightly with the clips batched with it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from export.manifest import OUTPUT_LOGITS, OUTPUT_SPATIAL, OUTPUT_TEMPORAL, QuantizedParity
from export.ort_session import input_geometry, open_session, random_video, run_session

LINEAR_OPS = ("MatMul",)
PARITY_CLIPS = 200  # at 99%, two of them may flip: near-ties on random clips
PARITY_BATCH = 8
MIN_TOP1_AGREEMENT = 0.99
TIE_BAND = 0.05  # of a clip's float32 logit range (max - min)


def linear_nodes(onnx_path: Path) -> list[str]:
    """Names of the `MatMul` nodes whose second input is a constant (the linear layers but the head)."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    constants = {i.name for i in graph.initializer}
    constants |= {out for n in graph.node if n.op_type == "Constant" for out in n.output}
    return [n.name for n in graph.node if n.op_type in LINEAR_OPS and n.input[1] in constants]


def quantize_int8(fp32_path: Path, int8_path: Path) -> int:
    """Write `int8_path`: `fp32_path` with its linear layers dynamically quantized; returns how many."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = linear_nodes(fp32_path)
    if not nodes:
        raise ValueError(f"{fp32_path.name} has no MatMul with constant weights to quantize")
    with _root_logger_quiet():  # it suggests "pre-processing" on the root logger at WARNING
        quantize_dynamic(
            fp32_path,
            int8_path,
            op_types_to_quantize=list(LINEAR_OPS),
            nodes_to_quantize=nodes,
            per_channel=True,
            weight_type=QuantType.QInt8,
            extra_options={"MatMulConstBOnly": True},
        )
    return len(nodes)


@contextlib.contextmanager
def _root_logger_quiet() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _max_diff(reference: np.ndarray, candidate: np.ndarray) -> float:
    return float(np.max(np.abs(reference.astype(np.float64) - candidate.astype(np.float64))))


def top1_matches(reference: np.ndarray, candidate: np.ndarray) -> tuple[int, int]:
    """(rows of `[B, C]` logits whose top-1 is the same, rows that agree counting near-ties)."""
    ref_top, cand_top = reference.argmax(axis=1), candidate.argmax(axis=1)
    rows = np.arange(reference.shape[0])
    band = TIE_BAND * (reference.max(axis=1) - reference.min(axis=1))
    tie = reference[rows, cand_top] >= reference[rows, ref_top] - band
    same = ref_top == cand_top
    return int(np.sum(same)), int(np.sum(same | tie))


def compare_int8(
    reference: Callable[[np.ndarray], dict[str, np.ndarray]],
    candidate: Callable[[np.ndarray], dict[str, np.ndarray]],
    *,
    num_frames: int,
    image_size: int,
    clips: int = PARITY_CLIPS,
    batch: int = PARITY_BATCH,
    seed: int = 0,
) -> tuple[tuple[int, int], float, float | None]:
    """((clips whose top-1 agrees, counting near-ties too), max |Δlogit|, max |Δattention| or None) over
    `clips` random clips."""
    same, agree, logit_diff, attention_diff = 0, 0, 0.0, None
    for i, start in enumerate(range(0, clips, batch)):
        video = random_video(min(batch, clips - start), num_frames, image_size, seed + i)
        ref, cand = reference(video), candidate(video)
        matches = top1_matches(ref[OUTPUT_LOGITS], cand[OUTPUT_LOGITS])
        same, agree = same + matches[0], agree + matches[1]
        logit_diff = max(logit_diff, _max_diff(ref[OUTPUT_LOGITS], cand[OUTPUT_LOGITS]))
        for name in (OUTPUT_TEMPORAL, OUTPUT_SPATIAL):
            if name in ref and name in cand:
                diff = _max_diff(ref[name], cand[name])
                attention_diff = diff if attention_diff is None else max(attention_diff, diff)
    return (same, agree), logit_diff, attention_diff


def check_int8_parity(
    fp32_path: Path, int8_path: Path, *, clips: int = PARITY_CLIPS, seed: int = 0
) -> QuantizedParity:
    """The int8 graph against the float32 one in onnxruntime (CPU) on `clips` random uint8 clips."""
    reference, candidate = open_session(fp32_path), open_session(int8_path)
    num_frames, image_size = input_geometry(reference)
    (same, agree), logit_diff, attention_diff = compare_int8(
        lambda video: run_session(reference, video),
        lambda video: run_session(candidate, video),
        num_frames=num_frames,
        image_size=image_size,
        clips=clips,
        seed=seed,
    )
    agreement = agree / clips
    return QuantizedParity(
        reference="onnxruntime (CPUExecutionProvider, float32)",
        candidate="onnxruntime (CPUExecutionProvider, int8-dynamic linear layers)",
        clips=clips,
        top1_agreement=round(agreement, 4),
        top1_same=round(same / clips, 4),
        tie_band=TIE_BAND,
        min_top1_agreement=MIN_TOP1_AGREEMENT,
        max_abs_logit_diff=logit_diff,
        max_abs_attention_diff=attention_diff,
        passed=agreement >= MIN_TOP1_AGREEMENT,
    )


def describe_int8_parity(report: QuantizedParity) -> str:
    attention = (
        f", max|Δattention| {report.max_abs_attention_diff:.3g}"
        if report.max_abs_attention_diff is not None
        else ""
    )
    return (
        f"int8 vs float32 on {report.clips} clips: top-1 agrees on {report.top1_agreement:.1%} "
        f"(needs {report.min_top1_agreement:.0%}; identical on {report.top1_same:.1%}, the rest near-ties "
        f"within {report.tie_band:.0%} of the logit range), max|Δlogit| {report.max_abs_logit_diff:.3g}"
        f"{attention}"
    )


def int8_fields(
    bundle_dir: Path, quantize: str, *, check: bool = True, progress: Callable[[str], None] | None = None
) -> dict[str, object]:
    """With `quantize="int8"`, replace `bundle_dir/model.onnx` by its int8 version and return the manifest
    fields that say so (with `check`, the parity report; a failed check raises `ParityError`, and the
    caller's staging discards the folder); `{}` for `"none"`."""
    if quantize == "none":
        return {}
    from export.errors import ParityError
    from export.manifest import ONNX_NAME

    say = progress or (lambda _message: None)
    graph = bundle_dir / ONNX_NAME
    fp32 = graph.with_name("model.fp32.onnx")
    graph.rename(fp32)
    report = None
    try:
        count = quantize_int8(fp32, graph)
        say(f"quantized {count} linear layers to int8 (dynamic, per channel)")
        if check:
            say(f"checking int8 parity: top-1 against the float32 graph on {PARITY_CLIPS} clips")
            report = check_int8_parity(fp32, graph)
    finally:
        fp32.unlink(missing_ok=True)
    if report is not None and not report.passed:
        raise ParityError(
            f"the int8 graph does not match the float32 one: {describe_int8_parity(report)}",
            "export without --quantize (this model's linear layers lose too much in int8)",
        )
    return {"quantization": "int8-dynamic", "quantized_parity": report}


def check_quantize(fmt: str, quantize: str) -> None:
    """Refuse what cannot be quantized, before the slow steps of an export."""
    from export.errors import ExportError

    if quantize not in ("none", "int8"):
        raise ExportError(f"unknown quantization {quantize!r}", "use --quantize int8, or leave it out")
    if quantize == "int8" and fmt != "onnx":
        raise ExportError(
            "int8 quantization is for onnxruntime on CPUs; TensorRT builds its own precisions",
            "drop --quantize int8, or export --format onnx",
        )
