"""Build a model bundle folder: `model.onnx` (+ `model.plan`), parity-checked, described by `model.json`.

The bundle is built in a temporary folder beside `out_dir` and renamed into place only when complete
(`export.staging`), so a failed export leaves `out_dir` as it was (absent, or the previous bundle).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from export.describe import build_manifest, file_hashes, tool_versions
from export.engine import build_checked_engine, check_precision
from export.errors import ExportError, ParityError
from export.manifest import ONNX_NAME, Manifest, ParityReport, Precision, write_manifest
from export.quantize import check_quantize, int8_fields
from export.staging import check_replaceable, staged_bundle

if TYPE_CHECKING:
    from torch import nn

    from export.onnx_export import ExportedGraph
    from models.card import ModelCard
    from models.contract import Grid

Format = Literal["onnx", "tensorrt"]
Exporter = Literal["auto", "dynamo", "torchscript"]
Quantize = Literal["none", "int8"]
Progress = Callable[[str], None]


def _noop(_message: str) -> None:
    return None


def _token_grids(model: nn.Module) -> dict[str, Grid] | None:
    """A vtserve model's token grids for `model.json` (`VideoModel.token_grids`); None for other modules."""
    from models.base import VideoModel

    return model.token_grids() if isinstance(model, VideoModel) else None


def resolve_precision(fmt: Format, precision: Precision | None) -> Precision:
    if fmt not in ("onnx", "tensorrt"):
        raise ExportError(f"unknown format {fmt!r}", "use --format onnx or --format tensorrt")
    if precision is None:
        return "fp16" if fmt == "tensorrt" else "fp32"
    check_precision(precision)
    if fmt == "onnx" and precision == "fp16":
        raise ExportError(
            "fp16 applies to TensorRT engines; ONNX bundles are float32",
            "add --format tensorrt, or drop --precision fp16",
        )
    return precision


def _check_request(
    fmt: Format, precision: Precision | None, max_batch: int, out_dir: Path, quantize: Quantize = "none"
) -> Precision:
    """Everything about the request that can fail before the slow steps; the resolved precision."""
    resolved = resolve_precision(fmt, precision)
    check_quantize(fmt, quantize)
    if max_batch < 1:
        raise ExportError(f"--max-batch must be at least 1, got {max_batch}", "pass --max-batch 1 or more")
    check_replaceable(out_dir)
    if fmt == "tensorrt":
        from export.tensorrt_build import require_tensorrt

        require_tensorrt()
    return resolved


def _write_onnx(
    model: nn.Module,
    card: ModelCard,
    out_dir: Path,
    *,
    attention: bool,
    exporter: Exporter,
    check_parity: bool,
    say: Progress,
) -> tuple[tuple[str, ...], ExportedGraph, ParityReport | None]:
    """Write `out_dir/model.onnx`, check that onnxruntime runs it and (when asked) that it matches PyTorch.

    Returns the output names, how the graph was exported, and the parity report (None when skipped).
    """
    from export import onnx_export  # looked up at call time, so a test can stand in for the exporter
    from export.ort_session import open_session
    from export.parity import check_onnx_parity, describe_failure
    from export.wrapper import BundleGraph, available_outputs

    contract = card.input
    names = available_outputs(model, contract.num_frames, contract.image_size, attention)
    onnx_path = out_dir / ONNX_NAME
    exported = onnx_export.export_onnx(
        BundleGraph(model, contract.mean, contract.std, names),
        onnx_path,
        num_frames=contract.num_frames,
        image_size=contract.image_size,
        exporter=exporter,
        progress=say,
    )
    session = open_session(onnx_path)  # raises UnsupportedOpError
    if not check_parity:
        return names, exported, None
    say("checking parity: onnxruntime vs PyTorch at batch 1 and 3")
    parity = check_onnx_parity(model, onnx_path, session=session)
    if not parity.passed:
        raise ParityError(
            f"exported graph does not match PyTorch: {describe_failure(parity)}",
            "report this with the model and versions; try --no-attention or another opset/exporter",
        )
    return names, exported, parity


def export_model(
    model: nn.Module,
    out_dir: Path,
    *,
    fmt: Format = "onnx",
    precision: Precision | None = None,
    max_batch: int = 16,
    opt_batch: int | None = None,
    attention: bool = True,
    check_parity: bool = True,
    exporter: Exporter = "auto",
    source: str = "",
    keep_ratio: float = 1.0,
    quantize: Quantize = "none",
    progress: Progress | None = None,
) -> Manifest:
    """Export an already-built vtserve model (with `.card`) into the bundle folder `out_dir`.

    `check_parity=False` skips the PyTorch-vs-onnxruntime comparison (benchmarks of random weights only;
    the manifest then carries no parity report). TensorRT parity always runs. `keep_ratio` < 1 exports
    the model on that share of its most temporally relevant tokens (`models.pruning`; joint models only).
    """
    say = progress or _noop
    out_dir = Path(out_dir).absolute()
    precision = _check_request(fmt, precision, max_batch, out_dir, quantize)
    model = pruned(model, keep_ratio)
    card: ModelCard = model.card  # type: ignore[assignment]
    model.eval()
    with staged_bundle(out_dir) as tmp:
        names, exported, parity = _write_onnx(
            model, card, tmp, attention=attention, exporter=exporter, check_parity=check_parity, say=say
        )
        versions = tool_versions(
            exporter=exported.exporter, opset=exported.opset, fallback_reason=exported.fallback_reason
        )
        tensorrt_info, quantized = None, int8_fields(tmp, quantize, check=check_parity, progress=say)
        if fmt == "tensorrt":
            tensorrt_info = build_checked_engine(
                tmp / ONNX_NAME,
                tmp,
                precision=precision,
                max_batch=max_batch,
                opt_batch=opt_batch,
                progress=say,
            )
            versions["tensorrt"] = tensorrt_info.tensorrt_version
        manifest = build_manifest(
            card,
            output_names=names,
            versions=versions,
            files=file_hashes(tmp),
            parity=parity,
            grids=_token_grids(model),
            tensorrt=tensorrt_info,
            source=source,
        )
        manifest = manifest.model_copy(update={"keep_ratio": keep_ratio, **quantized})
        write_manifest(tmp, manifest)
    say(f"wrote bundle {out_dir}")
    return manifest


def pruned(model: nn.Module, keep_ratio: float) -> nn.Module:
    """`model` on its `keep_ratio` most temporally relevant tokens (itself at 1.0), or an ExportError."""
    if keep_ratio == 1.0:
        return model
    from models.pruning import prune_tokens

    try:
        return prune_tokens(model, keep_ratio)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ExportError(
            f"cannot prune tokens: {exc}",
            "pass --keep-ratio in (0, 1] for ViViT Model 1, VideoMAE or V-JEPA 2",
        ) from exc


def build_bundle(
    source: str | Path,
    out_dir: Path,
    *,
    fmt: Format = "onnx",
    precision: Precision | None = None,
    num_frames: int | None = None,
    image_size: int | None = None,
    max_batch: int = 16,
    attention: bool = True,
    keep_ratio: float = 1.0,
    quantize: Quantize = "none",
    progress: Progress | None = None,
) -> Manifest:
    """Load `source` through `models.load_pretrained` and export it into the bundle folder `out_dir`.

    `source`: a shipped model name, one of our checkpoint folders, a Hugging Face folder or an official
    TimeSformer `.pyth`. `precision` defaults to fp32 for ONNX and fp16 for TensorRT engines;
    `quantize="int8"` stores the linear layers in int8 (`export.quantize`, onnxruntime on CPUs).
    Raises `ExportError` subclasses (one-line `str()`); `out_dir` is untouched on failure.
    """
    from export.source import load_source

    say = progress or _noop
    _check_request(fmt, precision, max_batch, Path(out_dir).absolute(), quantize)
    say(f"loading {source}")
    model = load_source(source, num_frames=num_frames, image_size=image_size)
    return export_model(
        model,
        Path(out_dir),
        fmt=fmt,
        precision=precision,
        max_batch=max_batch,
        attention=attention,
        source=str(source),
        keep_ratio=keep_ratio,
        quantize=quantize,
        progress=say,
    )
