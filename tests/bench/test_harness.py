"""The harness end to end at toy scale: clips, baseline, pipeline-limit driver, GPU script on CPU, CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from bench.clips import Clip, clip_mix, content_type_for
from bench.loadgen import check_loopback


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """timesformer_tiny (random weights): a checkpoint folder, and a repository with a torch-runtime bundle
    of the same weights (`model.json` only: no ONNX export, which would take most of this file's budget)."""
    import torch

    import models
    from export.describe import build_manifest
    from export.manifest import write_manifest
    from export.wrapper import available_outputs

    root = tmp_path_factory.mktemp("bench")
    torch.manual_seed(0)
    model = models.create_model("timesformer_tiny").eval()
    weights = models.save_pretrained(model, root / "weights")
    card = model.card
    names = available_outputs(model, card.input.num_frames, card.input.image_size, True)
    manifest = build_manifest(
        card,
        output_names=names,
        versions={},
        files={},
        parity=None,
        source=str(weights),
    )
    (root / "repo" / "tiny").mkdir(parents=True)
    write_manifest(root / "repo" / "tiny", manifest)
    return Path(weights), root / "repo"


@pytest.fixture(scope="module")
def clips(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Clip]:
    return clip_mix(
        media_dir=media_dir,
        cache_dir=tmp_path_factory.mktemp("clips"),
        generated=(),
        real=("h265_video.mp4", "video_90.mov", "av1_video.mkv"),
    )


def test_loopback_only() -> None:
    check_loopback("http://127.0.0.1:9/x")
    with pytest.raises(ValueError):
        check_loopback("http://example.com/")


def test_content_types() -> None:
    assert content_type_for("a.mov") == "video/quicktime"
    assert content_type_for("a.mkv") == "video/x-matroska"
    assert content_type_for("a.mp4") == "video/mp4"


def test_baseline_answers_labels_and_attention(tiny: tuple[Path, Path], clips: list[Clip]) -> None:
    from fastapi.testclient import TestClient

    from bench.baseline import create_app, sample_uniform

    assert [int(f[0, 0, 0]) for f in sample_uniform([np.full((1, 1, 3), i) for i in range(10)], 4)] == [
        1,
        3,
        6,
        8,
    ]
    with TestClient(create_app(str(tiny[0]))) as client:
        clip = clips[0]
        response = client.post("/predict", files={"file": (clip.name, clip.data, clip.content_type)})
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["labels"]) == 5
        assert np.allclose(np.asarray(body["temporal"]).sum(-1), 1.0, atol=1e-4)
        assert (
            client.post("/predict", files={"file": ("x.mp4", b"not a video", "video/mp4")}).status_code == 400
        )


def test_pipeline_limit_driver_runs_briefly(tiny: tuple[Path, Path], clips: list[Clip]) -> None:
    from bench.pipeline_limit import measure

    results = measure(
        tiny[1],
        "tiny",
        clips,
        concurrency=(2,),
        duration_s=1.0,
        warmup_rounds=0,
        settings_overrides={"decoder_workers": 1, "runtime": "torch", "device": "cpu"},
    )
    summary = results[0].summary()
    assert summary["ok"] > 0 and summary["errors"] == {}
    assert summary["clips_per_s"] > 0
    assert summary["mean_batch_size"] >= 1


def test_pipeline_limit_clients_past_the_admission_limit_wait_instead_of_failing(
    tiny: tuple[Path, Path], clips: list[Clip]
) -> None:
    from bench.pipeline_limit import measure

    overrides = {"decoder_workers": 1, "runtime": "torch", "device": "cpu", "max_in_flight": 1}
    summary = measure(
        tiny[1],
        "tiny",
        clips,
        concurrency=(3,),
        duration_s=1.0,
        warmup_rounds=0,
        settings_overrides=overrides,
    )[0].summary()
    assert summary["ok"] > 0 and summary["errors"] == {}  # no `overloaded`: two of three wait their turn


def test_runtime_limit_settings_parse() -> None:
    from bench.runtime_limit import parse_settings

    assert parse_settings("max_batch_size=1, max_wait_ms=0") == {"max_batch_size": "1", "max_wait_ms": "0"}
    assert parse_settings("defaults") == {}
    with pytest.raises(ValueError):
        parse_settings("max_batch_size")


def test_gpu_script_smoke_on_cpu(tmp_path: Path) -> None:
    from bench import gpu
    from bench.report import write_gpu

    parser = argparse.ArgumentParser()
    gpu.add_arguments(parser)
    args = parser.parse_args(
        [
            "--device",
            "cpu",
            "--tiny",
            "--batches",
            "1,2",
            "--dtypes",
            "bf16",
            "--kernels",
            "sdpa,explicit",
            "--iters",
            "1",
        ]
    )
    results = gpu.run_args(args, log=lambda _m: None)
    rows = results["rows"]
    assert len(rows) == 8 and all(r["error"] is None for r in rows)
    assert all(r["mfu"] is not None and r["runtime_clips_per_s"] > 0 for r in rows)
    assert results["summary"]["goals"].keys() == {
        "mfu_at_best_batch",
        "attention_output_cost",
        "batching_vs_batch_1",
    }
    assert results["torch_runtime_check"][0]["provider"].startswith("torch")
    paths = write_gpu(results, tmp_path)
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)


def test_gpu_script_fails_clearly_without_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from bench import gpu

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert gpu.main(["--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device" in err and "Traceback" not in err


def test_cli_parses_modes() -> None:
    from bench import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert parser.parse_args([]).mode == "all"
    args = parser.parse_args(["e2e", "--duration", "5", "--concurrency", "1,2"])
    assert (args.mode, args.duration, args.concurrency) == ("e2e", 5.0, "1,2")


def test_bundles_are_exported_again_only_when_the_key_changes(tmp_path: Path) -> None:
    from bench.bundles import export_unless_current

    bundle = tmp_path / "model"
    exports: list[str] = []

    def export(tag: str) -> None:
        bundle.mkdir(exist_ok=True)
        (bundle / "model.json").write_text("{}")
        exports.append(tag)

    export_unless_current(bundle, "weights-a", lambda: export("first"))
    export_unless_current(bundle, "weights-a", lambda: export("again"))
    assert exports == ["first"]
    export_unless_current(bundle, "weights-b", lambda: export("new weights"))
    (bundle / "model.json").unlink()
    export_unless_current(bundle, "weights-b", lambda: export("manifest gone"))
    assert exports == ["first", "new weights", "manifest gone"]
