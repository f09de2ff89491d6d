"""`vtserve build-engine BUNDLE`: engines are built before serving, into the bundle, all or nothing.

TensorRT cannot be installed here: the build itself runs in test_tensorrt.py where it can; these tests
run the command's own work around it (checks, staging, the record in model.json) for real, with the
TensorRT build and its parity check replaced by stand-ins where a build has to happen.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from export.manifest import PLAN_NAME, ParityReport, TensorRTInfo, read_manifest, verify_files
from service.cli import main


def _snapshot(folder: Path) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir())


@pytest.fixture()
def bundle(hf_bundle: Callable[[str], Path], tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(hf_bundle("timesformer"), copy)
    return copy


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    status = main(["build-engine", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and err
    assert err[-1].startswith("vtserve build-engine: error: ") and "(fix: " in err[-1]
    return err[-1]


def test_a_folder_that_is_not_a_bundle_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _fails([str(tmp_path)], capsys)
    assert "not a readable bundle" in line


def test_a_bundle_whose_files_changed_is_refused(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (bundle / "model.onnx").write_bytes(b"not the exported graph")
    before = _snapshot(bundle)
    line = _fails([str(bundle)], capsys)
    assert "changed since export" in line and "model.onnx" in line
    assert _snapshot(bundle) == before


def test_without_tensorrt_the_bundle_is_left_as_it_was(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        import tensorrt  # noqa: F401

        pytest.skip("tensorrt imports here; the missing-TensorRT error cannot be provoked")
    except ImportError:
        pass
    before = _snapshot(bundle)
    line = _fails([str(bundle)], capsys)
    assert "TensorRT is not available" in line and "pip install 'vtserve[gpu]'" in line
    assert _snapshot(bundle) == before
    assert [p.name for p in bundle.parent.iterdir()] == ["bundle"]


def _stand_in_tensorrt(monkeypatch: pytest.MonkeyPatch, *, parity_passes: bool) -> list[dict[str, object]]:
    """Replace TensorRT itself (not installable here) by stand-ins that write a fake plan, so that the
    command's own bookkeeping around a build is what runs for real."""
    from export import parity, tensorrt_build

    builds: list[dict[str, object]] = []

    def build_engine(onnx_path: Path, plan_path: Path, **options: object) -> TensorRTInfo:
        Path(plan_path).write_bytes(b"engine for this GPU")
        Path(str(options["timing_cache_path"])).write_bytes(b"timings")
        builds.append({"onnx": Path(onnx_path).name, **options})
        return TensorRTInfo(
            tensorrt_version="10.99",
            gpu_name="Stand-in GPU",
            compute_capability="9.0",
            precision=options["precision"],  # type: ignore[arg-type]
            min_batch=1,
            opt_batch=int(options["opt_batch"]),  # type: ignore[call-overload]
            max_batch=int(options["max_batch"]),  # type: ignore[call-overload]
        )

    report = ParityReport(
        reference="onnxruntime", candidate="tensorrt", tolerance=0.01, passed=parity_passes, cases=[]
    )
    monkeypatch.setattr(tensorrt_build, "require_tensorrt", lambda device=0: (None, ("Stand-in GPU", "9.0")))
    monkeypatch.setattr(tensorrt_build, "build_engine", build_engine)
    monkeypatch.setattr(parity, "check_tensorrt_parity", lambda *a, **kw: report)
    return builds


def test_built_engine_is_recorded_in_the_bundle_and_passes_the_runtime_checks(
    bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.runtimes.tensorrt_runtime import check_host, recorded_plan

    builds = _stand_in_tensorrt(monkeypatch, parity_passes=True)
    assert main(["build-engine", str(bundle), "--max-batch", "4"]) == 0
    assert "TensorRT 10.99 fp16 engine for Stand-in GPU (sm 9.0), batch 1..4" in capsys.readouterr().out
    assert builds == [
        {
            "onnx": "model.onnx",
            "precision": "fp16",
            "min_batch": 1,
            "opt_batch": 4,
            "max_batch": 4,
            "timing_cache_path": builds[0]["timing_cache_path"],
            "progress": builds[0]["progress"],
        }
    ]
    manifest = read_manifest(bundle)
    assert manifest.tensorrt is not None and manifest.tensorrt.parity is not None
    assert manifest.versions["tensorrt"] == "10.99"
    assert verify_files(bundle, manifest) == []  # the plan's sha256 is recorded with the others
    assert (bundle / PLAN_NAME).read_bytes() == b"engine for this GPU"
    info, _plan = recorded_plan(bundle, manifest)
    check_host(bundle, info, "10.99", ("Stand-in GPU", "9.0"))
    assert [p.name for p in bundle.parent.iterdir()] == ["bundle"]  # no staging folder left behind

    assert main(["build-engine", str(bundle)]) == 0  # a rebuild keeps the previous engine's settings
    assert builds[-1]["max_batch"] == 4 and builds[-1]["precision"] == "fp16"


def test_engine_that_fails_parity_is_not_kept(
    bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(bundle)
    _stand_in_tensorrt(monkeypatch, parity_passes=False)
    line = _fails([str(bundle), "--precision", "fp16"], capsys)
    assert "does not match onnxruntime" in line and "--precision fp32" in line
    assert _snapshot(bundle) == before and not (bundle / PLAN_NAME).exists()
    assert [p.name for p in bundle.parent.iterdir()] == ["bundle"]
