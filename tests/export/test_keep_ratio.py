"""`vtserve export … --keep-ratio R`: a static-shape graph of the joint model on R of its tokens."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import models
from export.manifest import INPUT_NAME, ONNX_NAME, read_manifest
from export.wrapper import channel_stats, normalize_video
from models.pruning import TokenPruned
from models.registry import create_model
from service.cli import main


def _export(source: Path, out: Path, *extra: str) -> tuple[int, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["export", str(source), "--out", str(out), *extra])
    return status, stdout.getvalue() + stderr.getvalue()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("keep") / "vivit"
    models.save_pretrained(create_model("vivit_tiny").eval(), folder)
    return folder


@pytest.fixture(scope="module")
def bundles(checkpoint: Path) -> dict[float, Path]:
    out = {}
    for ratio in (1.0, 0.5):
        bundle = checkpoint.parent / f"bundle-{ratio}"
        status, log = _export(checkpoint, bundle, "--keep-ratio", str(ratio))
        assert status == 0, log
        out[ratio] = bundle
    return out


def _video(batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, 4, 32, 32, 3), dtype=np.uint8)


def _run(bundle: Path, video: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(bundle / ONNX_NAME), providers=["CPUExecutionProvider"])
    return list(session.run(None, {INPUT_NAME: video}))


def test_manifest_records_the_keep_ratio_and_parity_passes(bundles: dict[float, Path]) -> None:
    for ratio, bundle in bundles.items():
        manifest = read_manifest(bundle)
        assert manifest.keep_ratio == ratio
        assert manifest.parity is not None and manifest.parity.passed
        assert manifest.attention_grid == (2, 4, 4)  # the maps still cover the whole grid


def test_keep_ratio_one_gives_the_unpruned_bundle_exactly(
    bundles: dict[float, Path], checkpoint: Path, tmp_path: Path
) -> None:
    status, log = _export(checkpoint, tmp_path / "plain")
    assert status == 0, log
    assert read_manifest(tmp_path / "plain").keep_ratio == 1.0
    video = _video(3, 1)
    for a, b in zip(_run(bundles[1.0], video), _run(tmp_path / "plain", video), strict=True):
        np.testing.assert_array_equal(a, b)


def test_pruned_graph_is_static_and_matches_pytorch(bundles: dict[float, Path], checkpoint: Path) -> None:
    graph = onnx.load(str(bundles[0.5] / ONNX_NAME))
    for value in [*graph.graph.input, *graph.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and all(d.HasField("dim_value") for d in dims[1:])
    model = TokenPruned(models.load_pretrained(checkpoint), 0.5).eval()
    mean, std = channel_stats(model.card.input.mean), channel_stats(model.card.input.std)
    for batch, seed in ((1, 2), (3, 3)):
        video = _video(batch, seed)
        logits, temporal, spatial = _run(bundles[0.5], video)
        with torch.no_grad():
            ref = model(normalize_video(torch.from_numpy(video), mean, std), return_attention=True)
        np.testing.assert_allclose(logits, ref.logits.numpy(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(temporal, ref.temporal_attention.numpy(), rtol=0, atol=1e-5)
        np.testing.assert_allclose(spatial, ref.spatial_attention.numpy(), rtol=0, atol=1e-5)
        assert (spatial.reshape(batch, -1) == 0).sum(1).tolist() == [16] * batch  # half of 32 tokens pruned


def test_a_still_video_keeps_the_same_tokens_in_onnxruntime_and_pytorch(
    bundles: dict[float, Path], checkpoint: Path
) -> None:
    """Every score ties (nothing moves): both runtimes keep the lowest-index tokens."""
    video = np.repeat(_video(1, 4)[:, :1], 4, axis=1)
    logits, _, spatial = _run(bundles[0.5], video)
    model = TokenPruned(models.load_pretrained(checkpoint), 0.5).eval()
    mean, std = channel_stats(model.card.input.mean), channel_stats(model.card.input.std)
    with torch.no_grad():
        ref = model(normalize_video(torch.from_numpy(video), mean, std), return_attention=True)
    np.testing.assert_allclose(logits, ref.logits.numpy(), rtol=0, atol=1e-4)
    assert np.all(spatial[0, 1] == 0) and np.all(spatial[0, 0] > 0)  # slice 0 kept, slice 1 pruned


@pytest.mark.parametrize(("name", "ratio"), [("timesformer_tiny", "0.5"), ("vivit_tiny", "1.5")])
def test_refused_with_a_one_line_error(name: str, ratio: str, tmp_path: Path) -> None:
    """Divided attention cannot drop tokens (its grid must stay rectangular); ratios lie in (0, 1]."""
    torch.manual_seed(0)
    models.save_pretrained(create_model(name).eval(), tmp_path / name)
    status, log = _export(tmp_path / name, tmp_path / "out", "--keep-ratio", ratio)
    assert status == 1 and "cannot prune tokens" in log
    assert not (tmp_path / "out").exists()


def test_torch_runtime_serves_the_pruned_model_like_the_graph(bundles: dict[float, Path]) -> None:
    from service.runtimes.base import RuntimeOptions
    from service.runtimes.torch_runtime import TorchRuntime

    bundle = bundles[0.5]
    runtime = TorchRuntime(bundle, read_manifest(bundle), RuntimeOptions(device="cpu"))
    video = _video(2, 3)
    graph_logits = _run(bundle, video)[0]
    np.testing.assert_allclose(runtime.infer(video).logits, graph_logits, atol=1e-4)
