"""Failed exports: a one-line error naming cause and fix, exit status 1, and nothing left in --out."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import export.onnx_export
from export.bundle import export_model
from export.errors import CheckpointMismatchError, ParityError, UnknownSourceError, UnsupportedOpError
from export.manifest import MANIFEST_NAME
from service.cli import main
from tests.export.test_unsupported_op import write_unrunnable_graph


def _fails_cleanly(argv: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run `vtserve export ...`; assert status 1, one error line, `out` absent; return the line."""
    status = main(["export", *argv, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert err, "no error message"
    line = err[-1]
    assert line.startswith("vtserve export: error: ")
    assert "(fix: " in line
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] == []
    return line


def test_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _fails_cleanly([str(tmp_path / "nowhere" / "ckpt.pyth")], tmp_path / "out", capsys)
    assert "does not exist" in line


def test_unknown_model_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _fails_cleanly(["no-such-model-anywhere"], tmp_path / "out", capsys)
    assert "no-such-model-anywhere" in line


def test_unknown_architecture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "resnet"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "resnet", "num_labels": 3}))
    with pytest.raises(UnknownSourceError):
        from export import build_bundle

        build_bundle(folder, tmp_path / "out")
    _fails_cleanly([str(folder)], tmp_path / "out", capsys)


def test_checkpoint_whose_keys_do_not_fit(
    hf_folder: Callable[[str], tuple[Path, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _ = hf_folder("timesformer")
    folder = tmp_path / "deeper"
    shutil.copytree(source, folder)
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] += 1  # the weights hold one layer fewer than the config asks for
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError):
        from export import build_bundle

        build_bundle(folder, tmp_path / "out")
    line = _fails_cleanly([str(folder)], tmp_path / "out", capsys)
    assert "does not fit" in line


def test_tensorrt_missing(hf_folder: Callable[[str], tuple[Path, Any]], tmp_path: Path, capsys: Any) -> None:
    try:
        import tensorrt  # noqa: F401

        pytest.skip("tensorrt imports here; the missing-TensorRT error cannot be provoked")
    except ImportError:
        pass
    folder, _ = hf_folder("timesformer")
    line = _fails_cleanly([str(folder), "--format", "tensorrt"], tmp_path / "out", capsys)
    assert "TensorRT is not available" in line
    assert "pip install 'vtserve[gpu]'" in line


def test_fp16_onnx_is_refused(
    hf_folder: Callable[[str], tuple[Path, Any]], tmp_path: Path, capsys: Any
) -> None:
    folder, _ = hf_folder("timesformer")
    line = _fails_cleanly([str(folder), "--precision", "fp16"], tmp_path / "out", capsys)
    assert "fp16" in line


def test_non_bundle_folder_is_not_replaced(
    hf_folder: Callable[[str], tuple[Path, Any]], tmp_path: Path, capsys: Any
) -> None:
    folder, _ = hf_folder("timesformer")
    out = tmp_path / "home"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    status = main(["export", str(folder), "--out", str(out)])
    assert status == 1
    assert "not a bundle" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


class _NoisyInput(nn.Module):
    """A model whose forward draws random noise: its graph cannot reproduce PyTorch."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.card = inner.card

    def forward(self, x: torch.Tensor, *, return_attention: bool = False) -> Any:
        return self.inner(x + torch.rand_like(x), return_attention=return_attention)


@pytest.fixture(scope="module")
def tiny_model() -> nn.Module:
    import models

    torch.manual_seed(0)
    return models.create_model("timesformer_tiny", num_frames=2, image_size=32).eval()


def test_parity_failure_reports_numbers_and_leaves_nothing(tiny_model: nn.Module, tmp_path: Path) -> None:
    out = tmp_path / "noisy"
    with pytest.raises(ParityError) as info:
        export_model(_NoisyInput(tiny_model), out, attention=False)
    message = str(info.value)
    assert "max|Δlogit|" in message and "tolerance 0.0001" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_unrunnable_op_fails_export_and_leaves_nothing(
    tiny_model: nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = export.onnx_export.export_onnx

    def export_unrunnable(graph: Any, path: Path, **kwargs: Any) -> Any:
        result = real(graph, path, **kwargs)
        write_unrunnable_graph(path)  # as if the exporter had emitted an op onnxruntime lacks
        return result

    monkeypatch.setattr(export.onnx_export, "export_onnx", export_unrunnable)
    out = tmp_path / "bundle"
    with pytest.raises(UnsupportedOpError, match="FrobnicateVideo"):
        export_model(tiny_model, out, attention=False)
    assert list(tmp_path.iterdir()) == []


def test_reexport_replaces_a_previous_bundle(tiny_model: nn.Module, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    first = export_model(tiny_model, out, attention=False)
    (out / "stale.txt").write_text("from an older export")
    second = export_model(tiny_model, out, attention=True)
    assert not first.has_attention and second.has_attention
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST_NAME, *second.files])
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
