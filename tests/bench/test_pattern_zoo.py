"""The comparison's zoo and table: shipping (fp16, measured card, size budget), re-evaluation against the
recorded top-1, the onnxruntime costs and the markdown table — on tiny real models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import pattern_table, pattern_zoo
from bench.pattern_costs import runtime_costs
from bench.pattern_training import half_weights
from bench.patterns import main

CLIPS = 22


def _trained(folder: Path, *, top1: float | None = None) -> Path:
    """A tiny 11-class model saved as the comparison ships it: fp16 weights, measured top-1 in its card."""
    import torch

    import models
    from models.demo.evaluate import with_extra
    from models.demo.motion import LABELS

    torch.manual_seed(0)
    model = models.create_model("timesformer_tiny", labels=list(LABELS)).eval()
    with_extra(model, results={"test_v2": {"accuracy": top1 or 0.0, "clips": CLIPS}})
    models.save_pretrained(model, folder)
    (folder / "card.json").write_text(model.card.to_json() + "\n")
    half_weights(folder)
    if top1 is None:  # record what the fp16 checkpoint really scores
        measured = pattern_zoo.reevaluate([folder], log=lambda _: None)[0]["measured"]
        return _trained(folder, top1=measured)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained(tmp_path_factory.mktemp("out") / "motion-tiny")


def test_ship_copies_fp16_checkpoints_within_the_budget(trained: Path, tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    mb = pattern_zoo.ship([trained], zoo)
    assert sorted(p.name for p in (zoo / "motion-tiny").iterdir()) == sorted(pattern_zoo.SHIPPED_FILES)
    assert pattern_zoo.weight_dtypes(zoo / "motion-tiny" / "model.safetensors") <= {"F16", "I64"}
    assert 0 < mb == pytest.approx(pattern_zoo.zoo_mb(zoo), abs=0.01)
    with pytest.raises(pattern_zoo.ZooError, match="budget"):
        pattern_zoo.ship([trained], tmp_path / "small", max_mb=mb / 2)
    assert not (tmp_path / "small").exists()  # nothing copied when refused


def test_ship_refuses_float32_weights_and_unmeasured_cards(trained: Path, tmp_path: Path) -> None:
    import models

    unmeasured = tmp_path / "motion-unmeasured"
    models.save_pretrained(models.load_pretrained(trained), unmeasured)  # float32
    (unmeasured / "card.json").write_text((trained / "card.json").read_text())
    with pytest.raises(pattern_zoo.ZooError, match="not fp16"):
        pattern_zoo.ship([unmeasured], tmp_path / "zoo")
    half_weights(unmeasured)
    (unmeasured / "card.json").write_text("{}")  # a card without measured results
    with pytest.raises(pattern_zoo.ZooError, match="no measured results"):
        pattern_zoo.ship([unmeasured], tmp_path / "zoo")


def test_reevaluate_passes_the_recorded_top1_and_fails_a_moved_one(trained: Path, tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    pattern_zoo.ship([trained], zoo)
    recorded = pattern_zoo.recorded_top1(zoo / "motion-tiny")[0]
    results = tmp_path / "patterns.json"
    table = {"tiny": {"name": "motion-tiny", "top1": recorded}}
    results.write_text(json.dumps({"training": {"table": table}}))
    assert main(["reevaluate", "--zoo-dir", str(zoo), "--results", str(results)]) == 0
    table["tiny"]["top1"] = recorded + 0.05  # the published number no longer matches the checkpoint
    results.write_text(json.dumps({"training": {"table": table}}))
    assert main(["reevaluate", "--zoo-dir", str(zoo), "--results", str(results)]) == 1
    table["other"] = {"name": "motion-absent", "top1": 0.5}  # published but not shipped
    table["tiny"]["top1"] = recorded
    results.write_text(json.dumps({"training": {"table": table}}))
    assert main(["reevaluate", "--zoo-dir", str(zoo), "--results", str(results)]) == 1


def test_runtime_costs_time_the_served_bundle_and_its_attention_outputs(trained: Path) -> None:
    import models

    costs = runtime_costs(models.load_pretrained(trained), batches=(1, 2))
    assert costs["parity_passed"] and costs["parity_max_abs_logit_diff"] < 1e-4
    for batch in (1, 2):
        assert costs[f"ms_per_clip_batch{batch}"] > 0 and costs[f"logits_only_ms_per_clip_batch{batch}"] > 0
        assert costs[f"attention_overhead_batch{batch}"] > -0.5 and costs[f"runs_batch{batch}"] >= 5


def _section() -> dict[str, Any]:
    """A training section with one measured model (`a`) and one that failed (`b`)."""
    plan = {"name": "motion-a", "attention": "axial", "depth": 3, "parameters": 500_000}
    plan["gflops_per_clip"] = 0.1
    measured = {
        "training": {"steps": 900},
        "results": {
            "test_v2": {"accuracy": 0.8, "reversal_to_partner": 0.7, "within_pair_accuracy": 0.9},
            "encoded_v2": {"accuracy": 0.75},
            "renderer_b": {"accuracy": 0.6},
            "onnxruntime": {
                "ms_per_clip_batch1": 2.5,
                "ms_per_clip_batch8": 1.5,
                "attention_overhead_batch1": 0.05,
            },
        },
    }
    return {
        "status": "trained",
        "budget": {"steps": 900, "max_minutes": 3.5},
        "models": {"a": plan, "b": {**plan, "name": "motion-b"}},
        "results": {"a": measured, "b": {"error": "exit 1"}},
    }


def test_markdown_table_has_every_model_and_the_budget() -> None:
    section = _section()
    text = pattern_table.markdown(section)
    lines = text.splitlines()
    assert "steps 900, max_minutes 3.5" in lines[0]
    assert lines[4].startswith("| `motion-a` | `axial` | 3 | 500 | 0.100 | 0.800 | 0.700 | 0.900 | 0.750 |")
    assert "+5.0%" in lines[4] and lines[5].startswith("| `motion-b` |") and lines[5].count("–") >= 10


def test_plot_draws_the_measured_models_and_refuses_an_empty_section(tmp_path: Path) -> None:
    from PIL import Image

    from bench import pattern_plot

    path = tmp_path / "comparison.png"
    pattern_plot.plot(_section(), path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 1000
    with pytest.raises(ValueError, match="nothing to plot"):
        pattern_plot.plot({**_section(), "results": {}}, tmp_path / "empty.png")


def test_a_rerun_of_some_models_keeps_the_others_rows(tmp_path: Path) -> None:
    from bench.patterns import _merged

    budget = {"steps": 900, "max_minutes": 3.5, "jobs": 2}
    old = {"status": "trained", "budget": budget, "models": {"a": 1, "b": 1}, "results": {"a": 1, "b": 1}}
    path = tmp_path / "patterns.json"
    path.write_text(json.dumps({"training": old}))
    rerun = {"status": "trained", "budget": {**budget, "jobs": 1}, "models": {"b": 2}, "results": {"b": 2}}
    assert _merged(path, rerun)["results"] == {"a": 1, "b": 2}
    other = {**rerun, "budget": {**budget, "max_minutes": 5}}  # another budget: the old rows are dropped
    assert _merged(path, other)["results"] == {"b": 2}
