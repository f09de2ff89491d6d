"""TensorRT engines for bundles. Only builders make them: `vtserve export --format tensorrt` (a new bundle)
and `vtserve build-engine BUNDLE` (an engine added to an existing bundle); a serving process never does.

An engine fits one TensorRT version and one GPU model, so build it on (a host like) the one that serves,
before serving. Each engine is checked against the bundle's `model.onnx` in onnxruntime, then recorded in
`model.json`: TensorRT version, GPU name and compute capability, precision, batch profile, the parity
report, and its sha256 under `files`. The tensorrt runtime loads an engine only when those facts match
its host and refuses it otherwise. Torch-free on import (the parity check imports torch when it runs).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from export.describe import file_hashes
from export.errors import ExportError, ParityError
from export.manifest import (
    ONNX_NAME,
    PLAN_NAME,
    PRECISIONS,
    Manifest,
    Precision,
    TensorRTInfo,
    read_manifest,
    verify_files,
    write_manifest,
)
from export.staging import staged_bundle

Progress = Callable[[str], None]

TIMING_CACHE_NAME = "timing.cache"
DEFAULT_MAX_BATCH = 16


def _noop(_message: str) -> None:
    return None


def check_precision(precision: Precision) -> None:
    """ExportError unless `precision` is one of `PRECISIONS` (a value from the command line or a caller)."""
    if precision not in PRECISIONS:
        raise ExportError(f"unknown precision {precision!r}", f"use --precision {' or '.join(PRECISIONS)}")


def build_checked_engine(
    onnx_path: Path,
    out_dir: Path,
    *,
    precision: Precision,
    max_batch: int,
    opt_batch: int | None = None,
    progress: Progress | None = None,
) -> TensorRTInfo:
    """Build `out_dir/model.plan` (and its timing cache) from `onnx_path` and check it against onnxruntime.

    Returns the engine's facts with the parity report; `ParityError` when the engine does not match.
    The profile covers batches 1..max_batch, tuned for `opt_batch` (default min(8, max_batch)).
    """
    from export.parity import check_tensorrt_parity, describe_failure
    from export.tensorrt_build import build_engine

    say = progress or _noop
    opt = opt_batch if opt_batch is not None else min(8, max_batch)
    info = build_engine(
        onnx_path,
        out_dir / PLAN_NAME,
        precision=precision,
        min_batch=1,
        opt_batch=max(1, min(opt, max_batch)),
        max_batch=max_batch,
        timing_cache_path=out_dir / TIMING_CACHE_NAME,
        progress=say,
    )
    say(f"checking parity: TensorRT ({precision}) vs onnxruntime")
    batches = sorted({1, min(3, max_batch)})
    parity = check_tensorrt_parity(onnx_path, out_dir / PLAN_NAME, precision=precision, batches=batches)
    if not parity.passed:
        raise ParityError(
            f"TensorRT engine does not match onnxruntime: {describe_failure(parity)}",
            "build with --precision fp32",
        )
    return info.model_copy(update={"parity": parity})


def describe_engine(info: TensorRTInfo) -> str:
    """One line naming an engine and what it was built for."""
    return (
        f"TensorRT {info.tensorrt_version} {info.precision} engine for {info.gpu_name}"
        f" (sm {info.compute_capability}), batch {info.min_batch}..{info.max_batch}"
    )


def _read_bundle(bundle_dir: Path) -> Manifest:
    """The bundle's manifest, or an `ExportError` when it is not an intact bundle."""
    try:
        manifest = read_manifest(bundle_dir)
    except (OSError, ValueError) as exc:
        raise ExportError(
            f"{bundle_dir} is not a readable bundle: {' '.join(str(exc).split())[:200]}",
            "pass a folder written by vtserve export",
        ) from exc
    bad = verify_files(bundle_dir, manifest)
    if bad:
        raise ExportError(
            f"bundle {bundle_dir}: files missing or changed since export: {bad}",
            "export the bundle again with vtserve export",
        )
    return manifest


def _copy_inputs(bundle_dir: Path, staging: Path, manifest: Manifest, keep_timing_cache: bool) -> None:
    """Copy the bundle's files (not its engine) into `staging`: hard links where possible, since bundle
    files are only ever replaced, never written in place; the timing cache, which the build rewrites, is
    copied, and kept only when it came from this TensorRT version and GPU model."""
    for name in manifest.files:
        if name == PLAN_NAME or (name == TIMING_CACHE_NAME and not keep_timing_cache):
            continue
        source, target = bundle_dir / name, staging / name
        if name == TIMING_CACHE_NAME:
            shutil.copy2(source, target)
            continue
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def _engine_settings(
    old: TensorRTInfo | None, precision: Precision | None, max_batch: int | None
) -> tuple[Precision, int]:
    """Precision and max batch for a rebuild: as given, else as the previous engine had them."""
    precision = precision or (old.precision if old is not None else "fp16")
    max_batch = max_batch if max_batch is not None else (old.max_batch if old else DEFAULT_MAX_BATCH)
    check_precision(precision)
    if max_batch < 1:
        raise ExportError(f"--max-batch must be at least 1, got {max_batch}", "pass --max-batch 1 or more")
    return precision, max_batch


def add_engine(
    bundle_dir: Path,
    *,
    precision: Precision | None = None,
    max_batch: int | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Build a TensorRT engine for this host into the bundle `bundle_dir` and record it in `model.json`.

    `precision` and `max_batch` default to the previous engine's, else fp16 and 16. The bundle is
    rebuilt beside itself and renamed into place, so readers see the old or the new bundle; on failure
    it is left as it was. Raises `ExportError` subclasses (TensorRT missing, build or parity failure).
    """
    from export.tensorrt_build import engine_matches, require_tensorrt

    say = progress or _noop
    bundle_dir = Path(bundle_dir).absolute()
    manifest = _read_bundle(bundle_dir)
    old = manifest.tensorrt
    precision, max_batch = _engine_settings(old, precision, max_batch)
    require_tensorrt()  # fail before the slow steps
    with staged_bundle(bundle_dir) as staging:
        _copy_inputs(bundle_dir, staging, manifest, old is not None and engine_matches(old))
        info = build_checked_engine(
            staging / ONNX_NAME, staging, precision=precision, max_batch=max_batch, progress=say
        )
        versions = {**manifest.versions, "tensorrt": info.tensorrt_version}
        updated = manifest.model_copy(
            update={"tensorrt": info, "files": file_hashes(staging), "versions": versions}
        )
        write_manifest(staging, updated)
    say(f"wrote {describe_engine(info)} into {bundle_dir}")
    return updated
