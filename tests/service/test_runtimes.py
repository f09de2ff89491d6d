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
def test_tensorrt_runtime(tiny_bundle: Path) -> None:
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("tensorrt is not installed (pip install 'vtserve[gpu]' on a host with an NVIDIA GPU)")
    runtime = create_runtime("tensorrt", tiny_bundle, read_manifest(tiny_bundle), RuntimeOptions(max_batch=4))
    out = runtime.infer(warmup_batch(runtime.input_spec, 2))
    assert out.logits.shape[0] == 2 and "TensorRT" in runtime.provider


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


def _stand_in_engine(monkeypatch: pytest.MonkeyPatch, *, parity_passes: bool) -> list[Path]:
    """Replace TensorRT itself (not installable here) by stand-ins that write a fake plan, so that the
    runtime's own bookkeeping around a rebuild is what runs for real."""
    from export import parity, tensorrt_build
    from export.manifest import ParityReport, TensorRTInfo

    built: list[Path] = []

    def build_engine(onnx_path: Path, plan_path: Path, **kw: object) -> TensorRTInfo:
        Path(plan_path).write_bytes(b"engine for this GPU")
        built.append(Path(plan_path))
        return TensorRTInfo(
            tensorrt_version="10.99",
            gpu_name="Stand-in GPU",
            compute_capability="9.0",
            precision="fp16",
            min_batch=1,
            opt_batch=2,
            max_batch=int(kw["max_batch"]),  # type: ignore[call-overload]
        )

    report = ParityReport(
        reference="onnxruntime", candidate="tensorrt", tolerance=0.05, passed=parity_passes, cases=[]
    )
    monkeypatch.setattr(tensorrt_build, "engine_matches", lambda info, device=0: False)
    monkeypatch.setattr(tensorrt_build, "build_engine", build_engine)
    monkeypatch.setattr(parity, "check_tensorrt_parity", lambda *a, **kw: report)
    return built


def test_rebuilt_tensorrt_engine_is_recorded_in_the_bundle(
    tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from export.manifest import verify_files
    from service.runtimes.tensorrt_runtime import _ensure_engine

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    (bundle / "model.plan").write_bytes(b"engine from another GPU")
    built = _stand_in_engine(monkeypatch, parity_passes=True)
    plan = _ensure_engine(bundle, read_manifest(bundle), max_batch=4)
    assert plan.read_bytes() == b"engine for this GPU" and len(built) == 1
    manifest = read_manifest(bundle)
    assert manifest.tensorrt is not None and manifest.tensorrt.gpu_name == "Stand-in GPU"
    assert manifest.tensorrt.parity is not None and manifest.versions["tensorrt"] == "10.99"
    assert verify_files(bundle, manifest) == []  # the next start passes the bundle's file check
    assert sorted(p.name for p in bundle.iterdir() if ".rebuilding" in p.name or p.suffix == ".tmp") == []


def test_rebuilt_tensorrt_engine_that_fails_parity_is_not_kept(
    tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.runtimes.tensorrt_runtime import _ensure_engine

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    before = (bundle / "model.json").read_text()
    _stand_in_engine(monkeypatch, parity_passes=False)
    with pytest.raises(RuntimeError, match="does not match onnxruntime"):
        _ensure_engine(bundle, read_manifest(bundle), max_batch=4)
    assert not (bundle / "model.plan").exists() and (bundle / "model.json").read_text() == before
