"""Build a model bundle folder: `model.onnx` (+ `model.plan`), parity-checked, described by `model.json`.

The bundle is built in a temporary folder beside `out_dir` and renamed into place only when complete,
so a failed export leaves `out_dir` as it was (absent, or the previous bundle).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from export.describe import build_manifest, file_hashes, tool_versions
from export.errors import ExportError, ParityError
from export.manifest import MANIFEST_NAME, ONNX_NAME, PLAN_NAME, Manifest, write_manifest

if TYPE_CHECKING:
    from torch import nn

Format = Literal["onnx", "tensorrt"]
Precision = Literal["fp32", "fp16"]
Progress = Callable[[str], None]

TIMING_CACHE_NAME = "timing.cache"


def _noop(_message: str) -> None:
    return None


def _check_replaceable(out_dir: Path) -> None:
    """`out_dir` may be absent (its parents are created), an empty folder, or a previous bundle (replaced)."""
    if not out_dir.exists():
        try:
            out_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(
                f"cannot create the parent folder of --out {out_dir}: {exc}", "choose a writable --out"
            ) from exc
        return
    if not out_dir.is_dir():
        raise ExportError(f"--out {out_dir} exists and is not a folder", "choose another --out")
    if any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).is_file():
        raise ExportError(
            f"--out {out_dir} is a non-empty folder that is not a bundle (no {MANIFEST_NAME})",
            "choose a new or empty folder for --out",
        )


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished `tmp` to `out_dir`, replacing a previous bundle there."""
    os.chmod(tmp, 0o755)
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(out_dir, old)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def resolve_precision(fmt: Format, precision: Precision | None) -> Precision:
    if fmt not in ("onnx", "tensorrt"):
        raise ExportError(f"unknown format {fmt!r}", "use --format onnx or --format tensorrt")
    if precision is None:
        return "fp16" if fmt == "tensorrt" else "fp32"
    if precision not in ("fp32", "fp16"):
        raise ExportError(f"unknown precision {precision!r}", "use --precision fp32 or fp16")
    if fmt == "onnx" and precision == "fp16":
        raise ExportError(
            "fp16 applies to TensorRT engines; ONNX bundles are float32",
            "add --format tensorrt, or drop --precision fp16",
        )
    return precision


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
    exporter: Literal["auto", "dynamo", "torchscript"] = "auto",
    source: str = "",
    progress: Progress | None = None,
) -> Manifest:
    """Export an already-built vtserve model (with `.card`) into the bundle folder `out_dir`.

    `check_parity=False` skips the PyTorch-vs-onnxruntime comparison (benchmarks of random weights only;
    the manifest then carries no parity report). TensorRT parity always runs.
    """
    from export.onnx_export import export_onnx
    from export.ort_session import open_session
    from export.parity import check_onnx_parity, check_tensorrt_parity, describe_failure
    from export.wrapper import BundleGraph, available_outputs

    say = progress or _noop
    precision = resolve_precision(fmt, precision)
    if max_batch < 1:
        raise ExportError(f"--max-batch must be at least 1, got {max_batch}", "pass --max-batch 1 or more")
    out_dir = Path(out_dir).absolute()
    _check_replaceable(out_dir)
    if fmt == "tensorrt":
        from export.tensorrt_build import require_tensorrt

        require_tensorrt()  # fail before the slow steps

    card = model.card
    model.eval()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        names = available_outputs(model, card.input.num_frames, card.input.image_size, attention)
        graph = BundleGraph(model, card.input.mean, card.input.std, names)
        onnx_path = tmp / ONNX_NAME
        exported = export_onnx(
            graph,
            onnx_path,
            num_frames=card.input.num_frames,
            image_size=card.input.image_size,
            exporter=exporter,
            progress=say,
        )
        session = open_session(onnx_path)  # raises UnsupportedOpError
        parity = None
        if check_parity:
            say("checking parity: onnxruntime vs PyTorch at batch 1 and 3")
            parity = check_onnx_parity(model, onnx_path, session=session)
            if not parity.passed:
                raise ParityError(
                    f"exported graph does not match PyTorch: {describe_failure(parity)}",
                    "report this with the model and versions; try --no-attention or another opset/exporter",
                )
        del session
        versions = tool_versions(
            exporter=exported.exporter, opset=exported.opset, fallback_reason=exported.fallback_reason
        )

        tensorrt_info = None
        if fmt == "tensorrt":
            from export.tensorrt_build import build_engine

            opt = opt_batch if opt_batch is not None else min(8, max_batch)
            info = build_engine(
                onnx_path,
                tmp / PLAN_NAME,
                precision=precision,
                min_batch=1,
                opt_batch=max(1, min(opt, max_batch)),
                max_batch=max_batch,
                timing_cache_path=tmp / TIMING_CACHE_NAME,
                progress=say,
            )
            say(f"checking parity: TensorRT ({precision}) vs onnxruntime")
            batches = sorted({1, min(3, max_batch)})
            trt_parity = check_tensorrt_parity(
                onnx_path, tmp / PLAN_NAME, precision=precision, batches=batches
            )
            if not trt_parity.passed:
                raise ParityError(
                    f"TensorRT engine does not match onnxruntime: {describe_failure(trt_parity)}",
                    "build with --precision fp32",
                )
            tensorrt_info = info.model_copy(update={"parity": trt_parity})
            versions["tensorrt"] = info.tensorrt_version

        manifest = build_manifest(
            card,
            output_names=names,
            versions=versions,
            files=file_hashes(tmp),
            parity=parity,
            tensorrt=tensorrt_info,
            source=source,
        )
        write_manifest(tmp, manifest)
        _move_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"wrote bundle {out_dir}")
    return manifest


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
    progress: Progress | None = None,
) -> Manifest:
    """Load `source` through `models.load_pretrained` and export it into the bundle folder `out_dir`.

    `source`: a shipped model name, one of our checkpoint folders, a Hugging Face folder or an official
    TimeSformer `.pyth`. `precision` defaults to fp32 for ONNX and fp16 for TensorRT engines.
    Raises `ExportError` subclasses (one-line `str()`); `out_dir` is untouched on failure.
    """
    from export.source import load_source

    say = progress or _noop
    resolve_precision(fmt, precision)
    _check_replaceable(Path(out_dir).absolute())
    if fmt == "tensorrt":
        from export.tensorrt_build import require_tensorrt

        require_tensorrt()
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
        progress=say,
    )
