"""A smoke training run (a few steps of the real loop), resumability, determinism and the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

import models
from models.contract import InputContract
from models.demo import train as train_mod
from models.demo.data import Mix
from models.demo.recipe import AuxHead, init_embeddings
from models.demo.train import TrainConfig, lr_at, run_progress, train
from models.layers import Attention


def _spec(model: models.VideoModel) -> InputContract:
    return model.card.input


def test_aux_head_reads_patch_tokens_of_every_layout() -> None:
    for name, t_prime in (("motion-timesformer", 8), ("motion-vivit", 4), ("motion-space-only", 8)):
        model = models.create_model(name, depth=1)
        size = model.card.input.image_size
        aux = AuxHead(model)
        model(torch.zeros(3, 8, 3, size, size))
        assert aux.predict(3, t_prime).shape == (3, t_prime, 16, 6)  # a 4x4 patch grid in every model
        coverage_only = AuxHead(model, motion=False)
        model(torch.zeros(3, 8, 3, size, size))
        assert coverage_only.predict(3, t_prime).shape == (3, t_prime, 16, 2)


def _cfg(tmp_path: Path, steps: int) -> TrainConfig:
    return TrainConfig(
        name="smoke",
        steps=steps,
        batch_size=8,
        warmup=2,
        eval_every=2,
        val_size=11,
        runs_dir=tmp_path,
        mix=Mix(h264=0.5, issue9=0.25),  # every source of clips, H.264 ones from a small pool
        h264_items=4,
        h264_root=tmp_path.parent / "pool",
    )


def test_registered_demo_models_and_cards() -> None:
    for name in ("motion-timesformer", "motion-vivit", "motion-space-only"):
        model = models.create_model(name)
        card = model.card
        assert card.input.sampling == "uniform" and card.input.resize == "short_side_center_crop"
        assert card.labels[1] == "moving_left" and card.num_classes == 11
        out = model(torch.zeros(2, card.input.num_frames, 3, card.input.image_size, card.input.image_size))
        assert out.logits.shape == (2, 11)


def test_schedule_warms_up_then_decays() -> None:
    cfg = TrainConfig(name="x", lr=1e-3, warmup=10)
    lrs = [lr_at(s, s / 100, cfg) for s in range(100)]
    assert lrs[0] < lrs[9] == max(lrs)
    assert lrs[-1] < 0.05 * max(lrs)
    # a time budget takes over the schedule when it binds first
    assert run_progress(10, 100, 0.0, None) == 0.1
    assert run_progress(10, 100, 30.0, 1.0) == 0.5


def test_embedding_init_gives_order_and_position() -> None:
    """DCT embeddings: frames (and patches) distinct, with a ramp over time; cls slots untouched."""
    model = models.create_model("motion-timesformer")
    assert isinstance(model.time_embed, torch.nn.Parameter) and isinstance(
        model.pos_embed, torch.nn.Parameter
    )
    cls_before = model.pos_embed[0, 0].clone()
    init_embeddings(model, 0.5, generator=torch.Generator().manual_seed(0))
    te = model.time_embed[0].detach()
    gram = te @ te.T
    assert (gram.diagonal() > 0.5).all() and (gram - torch.diag(gram.diagonal())).abs().max() < 0.5
    assert torch.equal(model.pos_embed[0, 0], cls_before)
    pe = model.pos_embed[0, 1:].detach()
    assert torch.cdist(pe, pe).add(torch.eye(16) * 10).min() > 0.3  # every patch position is distinct
    vivit = models.create_model("motion-vivit")
    init_embeddings(vivit, 0.5)
    assert isinstance(vivit.temporal_pos_embed, torch.nn.Parameter)
    assert vivit.temporal_pos_embed[0, 1:].norm(dim=1).min() > 0.3
    for name in ("videoprism_tiny", "axial_tiny"):  # no cls token: every slot of pos_embed is a patch
        no_cls = models.create_model(name)
        init_embeddings(no_cls, 0.5, generator=torch.Generator().manual_seed(0))
        pe = no_cls.pos_embed[0].detach()
        assert torch.cdist(pe, pe).add(torch.eye(pe.shape[0]) * 10).min() > 0.3, name


def test_smoke_run_learns_resumes_and_is_deterministic(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = models.create_model("motion-timesformer", depth=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    interrupted = _cfg(tmp_path, 4)
    interrupted.stop_at = 2
    facts = train(model, _spec(model), interrupted, log=lambda _: None, progress=False)
    assert facts["steps"] == 2 and len(facts["curve"]) == 1
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    attention = [m for m in model.modules() if isinstance(m, Attention)]
    assert attention and all(m.fused for m in attention)  # explicit softmax only while training
    log = [json.loads(line) for line in (tmp_path / "smoke" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 2 and 0.0 <= log[-1]["val_acc"] <= 1.0

    # resume to step 4, and compare with an uninterrupted 4-step run from the same seed
    resumed = models.create_model("motion-timesformer", depth=1)
    train(resumed, _spec(resumed), _cfg(tmp_path, 4), resume=True, log=lambda _: None, progress=False)
    torch.manual_seed(0)
    straight = models.create_model("motion-timesformer", depth=1)
    train(straight, _spec(straight), _cfg(tmp_path / "b", 4), log=lambda _: None, progress=False)
    for key, value in straight.state_dict().items():
        assert torch.allclose(resumed.state_dict()[key], value, atol=1e-6), key


def test_cli_smoke_saves_a_loadable_model(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    train_mod.add_arguments(parser)
    out = tmp_path / "motion-vivit"
    args = parser.parse_args(
        [
            "--model",
            "motion-vivit",
            "--smoke",
            "--out",
            str(out),
            "--runs-dir",
            str(tmp_path),
            "--h264-root",
            str(tmp_path / "pool"),
            "--no-progress",
        ]
    )
    assert train_mod.run(args) == 0
    loaded = models.load_pretrained(out)
    assert loaded.card.extra["training"]["steps"] == 4
    assert loaded.card.extra["training"]["seed"] == 0
    assert loaded.card.extra["training"]["data"] == {
        "generator": "motion-v2",
        "mix": {"h264": 0.25, "issue9": 0.1, "issue9_easy": 1.0, "variants": 1},
        "h264_pool": 8,
    }
    assert json.loads((out / "card.json").read_text())["input"]["sampling"] == "uniform"


def test_fine_tuning_starts_from_the_saved_weights(tmp_path: Path) -> None:
    torch.manual_seed(1)
    trained = models.create_model("motion-timesformer", depth=1)
    models.save_pretrained(trained, tmp_path / "trained")
    model = models.create_model("motion-timesformer", depth=1)
    cfg = _cfg(tmp_path, 1)
    cfg.init_from = tmp_path / "trained"
    cfg.lr = 0.0  # warm-up from 0: the first step leaves the weights where they started
    facts = train(model, _spec(model), cfg, log=lambda _: None, progress=False)
    assert facts["initialised_from"] == str(tmp_path / "trained")
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key

    other = models.create_model("motion-timesformer", depth=2)
    with pytest.raises(ValueError, match="not the TimeSformer being trained"):
        train(other, _spec(other), cfg, log=lambda _: None, progress=False)


def test_workers_do_not_change_a_run_by_steps(tmp_path: Path) -> None:
    weights = []
    for workers in (0, 2):
        torch.manual_seed(0)
        model = models.create_model("motion-timesformer", depth=1)
        cfg = _cfg(tmp_path / f"w{workers}", 3)
        cfg.workers = workers
        train(model, _spec(model), cfg, log=lambda _: None, progress=False)
        weights.append(model.state_dict())
    for key, value in weights[0].items():
        assert torch.equal(weights[1][key], value), key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (train-demo --device cuda)")
def test_a_run_on_the_gpu_trains_there_and_comes_back(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = models.create_model("motion-vivit", depth=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = _cfg(tmp_path, 4)
    cfg.device, cfg.workers, cfg.explicit_attention = "cuda", 2, False
    facts = train(model, _spec(model), cfg, log=lambda _: None, progress=False)
    assert facts["steps"] == 4 and 0.0 <= facts["val"]["val_acc"] <= 1.0
    assert all(v.device.type == "cpu" for v in model.state_dict().values())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
