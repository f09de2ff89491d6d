"""Runtimes on a real exported bundle; the onnxruntime serving path never imports torch."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export.manifest import read_manifest
from service.runtimes import RUNTIMES, RuntimeOptions, create_runtime
from service.runtimes.base import warmup_batch
from service.runtimes.onnx_runtime import choose_providers


def test_choose_providers_keeps_order_and_falls_back_to_cpu() -> None:
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(("tensorrt", "cuda", "cpu"), available) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert choose_providers(("cuda",), ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def test_onnxruntime_on_a_real_bundle(tiny_bundle: Path) -> None:
    manifest = read_manifest(tiny_bundle)
    runtime = create_runtime("onnxruntime", tiny_bundle, manifest, RuntimeOptions(max_batch=4))
    assert runtime.provider == "CPUExecutionProvider"  # what the session really uses on this host
    runtime.warmup()
    batch = warmup_batch(runtime.input_spec, 3)
    out = runtime.infer(batch)
    assert out.logits.shape == (3, manifest.num_classes)
    assert out.temporal is not None and out.temporal.shape == (3, 4, 4)
    assert np.allclose(out.temporal.sum(axis=-1), 1.0, atol=1e-4)
    assert out.spatial is not None and out.spatial.shape == (3, 4, 4, 4)
    single = runtime.infer(batch[1:2])
    assert np.allclose(single.logits[0], out.logits[1], atol=1e-4)  # batching does not change answers
    with pytest.raises(ValueError):
        runtime.infer(batch[:, :2])  # wrong number of frames
    with pytest.raises(ValueError):
        runtime.infer(warmup_batch(runtime.input_spec, 5))  # beyond max_batch
    runtime.close()


def test_unknown_runtime_name(tiny_bundle: Path) -> None:
    with pytest.raises(ValueError, match="unknown runtime"):
        create_runtime("tensorflow", tiny_bundle, read_manifest(tiny_bundle), RuntimeOptions())
    assert set(RUNTIMES) == {"onnxruntime", "tensorrt", "torch"}


def test_torch_runtime_matches_onnxruntime(tiny_bundle: Path) -> None:
    manifest = read_manifest(tiny_bundle)
    torch_rt = create_runtime("torch", tiny_bundle, manifest, RuntimeOptions(device="cpu"))
    assert torch_rt.provider.startswith("torch") and torch_rt.provider.endswith("CPU")
    ort_rt = create_runtime("onnxruntime", tiny_bundle, manifest, RuntimeOptions())
    batch = warmup_batch(ort_rt.input_spec, 2)
    a, b = torch_rt.infer(batch), ort_rt.infer(batch)
    assert np.allclose(a.logits, b.logits, atol=1e-4)  # the bundle's checkpoint, the same weights
    assert a.temporal is not None and b.temporal is not None
    assert np.allclose(a.temporal, b.temporal, atol=1e-4)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_tensorrt_runtime_loads_a_built_engine_and_matches_onnxruntime(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("tensorrt is not installed (pip install 'vtserve[gpu]' on a host with an NVIDIA GPU)")
    from export.engine import add_engine

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    add_engine(bundle, precision="fp32", max_batch=4)
    bundle.chmod(0o555)  # the runtime only reads: a read-only bundle serves
    try:
        manifest = read_manifest(bundle)
        runtime = create_runtime("tensorrt", bundle, manifest, RuntimeOptions(max_batch=4))
        runtime.warmup()
        batch = warmup_batch(runtime.input_spec, 2)
        out = runtime.infer(batch)
        reference = create_runtime("onnxruntime", bundle, manifest, RuntimeOptions()).infer(batch)
        assert "TensorRT" in runtime.provider
        assert np.allclose(out.logits, reference.logits, atol=1e-3)  # TENSORRT_FP32_TOLERANCE
        runtime.close()
    finally:
        bundle.chmod(0o755)


def test_onnxruntime_serving_path_does_not_import_torch(tiny_bundle: Path, tmp_path: Path) -> None:
    code = f"""
import sys
from fastapi.testclient import TestClient
from service.app import create_app
from service.settings import Settings

def main():
    app = create_app(Settings(models=[{str(tiny_bundle)!r}], cache_dir={str(tmp_path)!r}, decoder_workers=1),
                     load_in_background=False)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
    from service.bundles import shipped_weights_dir
    shipped_weights_dir("motion-timesformer")
    assert "torch" not in sys.modules, "torch was imported"
    assert "tensorrt" not in sys.modules

if __name__ == "__main__":
    main()
"""
    script = tmp_path / "no_torch.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _with_recorded_engine(tiny_bundle: Path, tmp_path: Path, plan: bytes, recorded: bytes) -> Path:
    """A copy of the tiny bundle whose model.json records an engine with the sha256 of `recorded`,
    while `model.plan` holds `plan` (no TensorRT here: the bytes stand for an engine)."""
    import hashlib

    from export.manifest import TensorRTInfo, write_manifest

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    (bundle / "model.plan").write_bytes(plan)
    manifest = read_manifest(bundle)
    info = TensorRTInfo(
        tensorrt_version="10.99.0",
        gpu_name="Builder GPU",
        compute_capability="9.0",
        precision="fp16",
        min_batch=1,
        opt_batch=2,
        max_batch=4,
    )
    files = {**manifest.files, "model.plan": hashlib.sha256(recorded).hexdigest()}
    write_manifest(bundle, manifest.model_copy(update={"tensorrt": info, "files": files}))
    return bundle


def test_tensorrt_runtime_refuses_a_bundle_without_engine(tiny_bundle: Path) -> None:
    from service.runtimes.tensorrt_runtime import EngineRefused

    before = sorted((p.name, p.stat().st_mtime_ns) for p in tiny_bundle.iterdir())
    with pytest.raises(EngineRefused, match=r"records none.*`vtserve build-engine .*tiny`"):
        create_runtime("tensorrt", tiny_bundle, read_manifest(tiny_bundle), RuntimeOptions())
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tiny_bundle.iterdir()) == before


def test_tensorrt_runtime_refuses_an_engine_that_is_not_the_recorded_one(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    from service.runtimes.tensorrt_runtime import EngineRefused, recorded_plan

    bundle = _with_recorded_engine(tiny_bundle, tmp_path, b"another engine", recorded=b"the built engine")
    with pytest.raises(EngineRefused, match=r"sha256 differs.*`vtserve build-engine "):
        create_runtime("tensorrt", bundle, read_manifest(bundle), RuntimeOptions())
    (bundle / "model.plan").unlink()
    with pytest.raises(EngineRefused, match=r"cannot read the TensorRT engine .*model.plan"):
        recorded_plan(bundle, read_manifest(bundle))


def test_recorded_engine_is_loaded_only_on_its_tensorrt_version_and_gpu(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    from service.runtimes.tensorrt_runtime import EngineRefused, check_host, recorded_plan

    bundle = _with_recorded_engine(tiny_bundle, tmp_path, b"the built engine", recorded=b"the built engine")
    info, plan = recorded_plan(bundle, read_manifest(bundle))
    assert plan == b"the built engine" and info.gpu_name == "Builder GPU"
    check_host(bundle, info, "10.99.0", ("Builder GPU", "9.0"))  # the host it was built on: loads
    cases = [
        ("10.99.1", ("Builder GPU", "9.0"), "TensorRT 10.99.1 on Builder GPU"),
        ("10.99.0", ("NVIDIA L4", "8.9"), "TensorRT 10.99.0 on NVIDIA L4 \\(sm 8.9\\)"),
        (None, ("Builder GPU", "9.0"), "TensorRT does not import here"),
        ("10.99.0", None, "no NVIDIA GPU is visible here"),
    ]
    for version, gpu, reason in cases:
        with pytest.raises(EngineRefused, match=f"{reason}.*rebuild it here with `vtserve build-engine "):
            check_host(bundle, info, version, gpu)
