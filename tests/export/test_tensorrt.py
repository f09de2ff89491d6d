"""TensorRT engines: built from a real bundle and compared with onnxruntime where TensorRT and a GPU exist.

Everywhere else these tests skip with the reason; `vtserve export --format tensorrt` then fails with a
one-line error (see test_failures.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from export.manifest import ONNX_NAME, PLAN_NAME, TensorRTInfo, read_manifest, verify_files
from export.tensorrt_build import engine_matches, gpu_identity, tensorrt_version


def _tensorrt_unavailable() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return f"tensorrt does not import here ({exc}); install with pip install 'vtserve[gpu]' on a GPU host"
    if gpu_identity() is None:
        return "no NVIDIA GPU found (cuda-python and nvidia-smi report none)"
    try:
        import torch
    except ImportError:
        return "torch is needed for device buffers"
    if not torch.cuda.is_available():
        return "torch has no CUDA (a CPU build of torch)"
    return None


@pytest.fixture(scope="module")
def trt_ready() -> None:
    reason = _tensorrt_unavailable()
    if reason is not None:
        pytest.skip(reason)


def test_engine_from_another_version_or_gpu_does_not_match() -> None:
    info = TensorRTInfo(
        tensorrt_version="0.0.0",
        gpu_name="No Such GPU",
        compute_capability="0.0",
        precision="fp16",
        min_batch=1,
        opt_batch=1,
        max_batch=1,
    )
    assert engine_matches(info) is False


def test_engine_matches_compares_version_gpu_name_and_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    import export.tensorrt_build as tb

    info = TensorRTInfo(
        tensorrt_version="10.9.0",
        gpu_name="NVIDIA H100 80GB HBM3",
        compute_capability="9.0",
        precision="fp16",
        min_batch=1,
        opt_batch=8,
        max_batch=16,
    )
    monkeypatch.setattr(tb, "tensorrt_version", lambda: "10.9.0")
    monkeypatch.setattr(tb, "gpu_identity", lambda device=0: ("NVIDIA H100 80GB HBM3", "9.0"))
    assert tb.engine_matches(info)
    monkeypatch.setattr(tb, "gpu_identity", lambda device=0: ("NVIDIA L4", "8.9"))
    assert not tb.engine_matches(info)
    monkeypatch.setattr(tb, "gpu_identity", lambda device=0: ("NVIDIA H100 80GB HBM3", "9.0"))
    monkeypatch.setattr(tb, "tensorrt_version", lambda: "10.10.0")
    assert not tb.engine_matches(info)
    monkeypatch.setattr(tb, "gpu_identity", lambda device=0: None)
    assert not tb.engine_matches(info)


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_build_engine_matches_this_host_and_onnxruntime(
    trt_ready: None, hf_bundle: Callable[[str], Path], tmp_path: Path, precision: str
) -> None:
    from export.parity import check_tensorrt_parity
    from export.tensorrt_build import build_engine

    bundle = hf_bundle("timesformer")
    cache = tmp_path / "timing.cache"
    info = build_engine(
        bundle / ONNX_NAME,
        tmp_path / PLAN_NAME,
        precision=precision,  # type: ignore[arg-type]
        min_batch=1,
        opt_batch=2,
        max_batch=4,
        timing_cache_path=cache,
    )
    assert (tmp_path / PLAN_NAME).stat().st_size > 0
    assert cache.stat().st_size > 0
    assert info.tensorrt_version == tensorrt_version()
    assert engine_matches(info)
    report = check_tensorrt_parity(
        bundle / ONNX_NAME, tmp_path / PLAN_NAME, precision=precision, batches=(1, 3)
    )
    assert report.passed, report


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_tensorrt_bundle_records_engine_and_parity(
    trt_ready: None, hf_folder: Callable[[str], tuple[Path, object]], tmp_path: Path
) -> None:
    from export import build_bundle

    folder, _ = hf_folder("timesformer")
    manifest = build_bundle(folder, tmp_path / "trt", fmt="tensorrt", max_batch=4)
    assert manifest.tensorrt is not None
    assert manifest.tensorrt.precision == "fp16"
    assert manifest.tensorrt.parity is not None and manifest.tensorrt.parity.passed
    assert PLAN_NAME in manifest.files and ONNX_NAME in manifest.files
    assert read_manifest(tmp_path / "trt") == manifest
    assert verify_files(tmp_path / "trt", manifest) == []
