"""`python -m bench.patterns`: analytic FLOPs against the FLOP counter, the scaling harness, the
training driver's plan and a smoke run of it (real models, real processes, tiny sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench import pattern_scaling as scaling
from bench.pattern_flops import Shape, model_cost, strided_pairs, window_pairs
from bench.patterns import TINY_SHAPE, main
from models.patterns.temporal import strided_mask, window_mask

SHAPE = {**TINY_SHAPE, "depth": 2}


@pytest.mark.parametrize("pattern", list(scaling.LINEUP))
def test_analytic_flops_equal_the_flop_counter(pattern: str) -> None:
    """Every multiply-add the model runs is in the formula (explicit attention: matmuls only)."""
    for frames in (4, 7):
        model = scaling.build(pattern, frames, **SHAPE)
        model.set_fused_attn(False)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(1, frames, 3, 32, 32))
        cost = scaling.analytic(pattern, frames, **SHAPE)[0]
        assert counter.get_total_flops() == 2 * (cost.linear + cost.attention), (pattern, frames)


def test_visible_key_counts_are_the_masks() -> None:
    for t in (1, 5, 8, 13):
        for w in (1, 3, 9):
            assert window_pairs(t, w) == int(window_mask(t, w).sum())
        for k in (1, 2, 4):
            assert strided_pairs(t, k) == int(strided_mask(t, k).sum())


def test_growth_classes_at_vit_base() -> None:
    """Joint attention's FLOPs grow quadratically in T at 224 px; the factorised family's, linearly."""
    options = {"window": 9, "stride": 4, "temporal_depth": 2, "strides": [1, 2, 4]}

    def exponent(pattern: str) -> float:
        small, big = (model_cost(pattern, Shape(frames=t), options).gflops for t in (64, 128))
        return float(torch.log2(torch.tensor(big / small)))

    assert exponent("joint_space_time") > 1.6
    for pattern in ("divided_space_time", "factorised_self_attention", "windowed", "axial", "multiscale"):
        assert 0.99 < exponent(pattern) < 1.1, pattern
    windowed = model_cost("windowed", Shape(frames=4096), options)
    assert windowed.attention_sparse < windowed.attention / 10  # the mask hides most temporal keys


def test_stop_rules_skip_what_would_be_too_slow() -> None:
    records = list(scaling.measure_pattern(
        "windowed", [4, 8, 16], max_step_s=1e-6, max_memory_gb=16, deadline=float("inf"), shape=SHAPE
    ))  # fmt: skip
    assert records[0]["frames"] == 4 and records[0]["over_limit"] and records[0]["latency_s"] > 0
    assert [r["frames"] for r in records[1:]] == [8, 16]
    assert all(r["skipped"].startswith("not run") for r in records[1:])


def test_scaling_study_writes_json_and_plot(tmp_path: Path) -> None:
    results, plot = tmp_path / "patterns.json", tmp_path / "patterns.png"
    status = main([
        "scaling", "--tiny", "--frames", "4,8", "--patterns", "windowed,joint_space_time",
        "--budget-min", "3", "--results", str(results), "--plot", str(plot),
    ])  # fmt: skip
    assert status == 0 and plot.stat().st_size > 10_000
    study = json.loads(results.read_text())["scaling"]
    assert set(study["patterns"]) == {"windowed", "joint_space_time"}
    for entry in study["patterns"].values():
        assert [s["frames"] for s in entry["steps"]] == [4, 8] and not entry["errors"]
        assert all(s["latency_s"] > 0 and s["cpu_s"] > 0 and s["gflops"] > 0 for s in entry["steps"])
    assert study["patterns"]["windowed"]["options"] == {"window": 9}


def test_training_plan_matches_parameters(tmp_path: Path) -> None:
    results = tmp_path / "patterns.json"
    results.write_text(json.dumps({"scaling": {"kept": True}}))
    keys = "axial,multiscale,videomae,shifted_windows,multiview,vjepa2,videoprism"
    assert main(["train", "--dry-run", "--patterns", keys, "--results", str(results)]) == 0
    data = json.loads(results.read_text())
    assert data["scaling"] == {"kept": True}  # the other section is left as it was
    plan = data["training"]
    assert plan["status"] == "planned" and plan["budget"]["threads_per_model"] == 1
    for key, row in plan["models"].items():
        assert 0.75 < row["parameters_vs_target"] < 1.25, key
        assert row["name"] == f"motion-{key.replace('_', '-')}" and row["gflops_per_clip"] > 0
    assert plan["models"]["multiscale"]["depth"] == 1 and plan["models"]["axial"]["attention"] == "axial"
    attention = {key: row["attention"] for key, row in plan["models"].items()}
    assert [attention[k] for k in ("shifted_windows", "multiview", "vjepa2", "videoprism")] == [
        "shifted_windows", "multiview", "vjepa2", "videoprism",
    ]  # fmt: skip
    assert plan["models"]["shifted_windows"]["config"]["depths"][:2] == [2, 2]


def test_dry_run_keeps_a_measured_training_section(tmp_path: Path) -> None:
    results = tmp_path / "patterns.json"
    measured = {"training": {"status": "trained", "models": {}, "results": {"x": 1}}}
    results.write_text(json.dumps(measured))
    assert main(["train", "--dry-run", "--patterns", "windowed", "--results", str(results)]) == 0
    assert json.loads(results.read_text()) == measured


def test_every_comparison_model_takes_the_probe_and_saves_unchanged() -> None:
    """train-demo builds its probe on `model.blocks[-1]` even at --aux-weight 0; the alias for Swin's
    stages and MTV's views is no submodule, so the saved state dict is the model's own."""
    from bench.pattern_training import COMPARISON, build, with_probe_blocks
    from models.demo.recipe import AuxHead

    for key in COMPARISON:
        model = build(key, 1, meta=True)
        keys = set(model.state_dict())
        AuxHead(with_probe_blocks(model))
        assert set(model.state_dict()) == keys, key


def test_training_smoke_run_trains_saves_fp16_and_loads(tmp_path: Path) -> None:
    import models

    results = tmp_path / "patterns.json"
    status = main([
        "train", "--smoke", "--no-eval", "--patterns", "windowed", "--jobs", "1",
        "--out-dir", str(tmp_path / "zoo"), "--h264-root", str(tmp_path / "h264"), "--results", str(results),
    ])  # fmt: skip
    assert status == 0
    training = json.loads(results.read_text())["training"]
    assert training["status"] == "smoke" and "error" not in training["results"]["windowed"]
    folder = tmp_path / "zoo" / "motion-windowed"
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(folder / "model.safetensors").values()} == {torch.float16}
    model = models.load_pretrained(folder)
    assert model.card.attention == "windowed" and len(model.card.labels) == 11
    assert next(model.parameters()).dtype == torch.float32
