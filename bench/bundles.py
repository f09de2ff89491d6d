"""The model under test, as both servers need it: one checkpoint folder and one bundle of the same weights.

`--model motion-timesformer` uses the shipped weights when `models/weights/motion-timesformer/` exists;
any other registered name (or `small`, the stand-in until the shipped model lands) is built with random
weights from a fixed seed and saved, so the naive baseline (`models.load_pretrained`) and vtserve (the
exported bundle) run exactly the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHIPPED = "motion-timesformer"

# A stand-in for the shipped demo model until its weights exist: same shape as the notes describe
# (TimeSformer divided, 8 frames of 64×64, patch 16, hidden 192, 4 layers, 11 classes).
STAND_INS: dict[str, tuple[str, dict[str, Any]]] = {
    "small": (
        "timesformer_tiny",
        {
            "num_frames": 8,
            "image_size": 64,
            "patch_size": 16,
            "embed_dim": 192,
            "depth": 4,
            "num_heads": 4,
            "mlp_dim": 768,
            "num_classes": 11,
        },
    ),
}


@dataclass(frozen=True, kw_only=True)
class PreparedModel:
    name: str  # the bundle (and served model) name
    label: str  # for reports: "motion-timesformer (shipped)" or "... (random weights)"
    weights_dir: Path  # what the baseline loads with models.load_pretrained
    repository: Path  # VTSERVE_MODEL_REPOSITORY (holds <name>/model.json)
    num_frames: int
    image_size: int
    gflop_per_clip: float | None = None


def resolve(name: str) -> tuple[str, bool]:
    """`auto` → the shipped model if its weights exist, else `small`; returns (name, shipped?)."""
    from models import shipped_path

    if name == "auto":
        name = SHIPPED if shipped_path(SHIPPED) is not None else "small"
    return name, shipped_path(name) is not None


def build_model(name: str, seed: int = 0) -> tuple[Any, str]:
    """The torch model and its report label (shipped weights or random ones from `seed`)."""
    import torch

    import models

    name, shipped = resolve(name)
    if shipped:
        return models.load_pretrained(name), f"{name} (shipped weights)"
    torch.manual_seed(seed)
    if name in STAND_INS:
        base, overrides = STAND_INS[name]
        return models.create_model(base, **overrides).eval(), f"{name}: {base} 8x64 stand-in (random weights)"
    return models.create_model(name).eval(), f"{name} (random weights)"


def prepare(name: str, work_dir: Path, *, max_batch: int = 16, attention: bool = True) -> PreparedModel:
    """Checkpoint folder + bundle repository for `name` under `work_dir` (rebuilt every run: cheap)."""
    import models
    from export.bundle import export_model

    name, shipped = resolve(name)
    model, label = build_model(name)
    served = name.replace("_", "-")
    weights_dir = models.shipped_path(name) if shipped else None
    if weights_dir is None:
        weights_dir = work_dir / "weights" / served
        models.save_pretrained(model, weights_dir)
    repository = work_dir / "repository"
    repository.mkdir(parents=True, exist_ok=True)
    export_model(
        model,
        repository / served,
        max_batch=max_batch,
        attention=attention,
        check_parity=True,
        source=str(weights_dir),
    )
    card = model.card
    return PreparedModel(
        name=served,
        label=label,
        weights_dir=Path(weights_dir),
        repository=repository,
        num_frames=card.num_frames,
        image_size=card.image_size,
        gflop_per_clip=flops_per_clip(model) / 1e9,
    )


def flops_per_clip(model: Any, *, attention: bool = False) -> float:
    """Forward FLOPs for one clip, counted by `torch.utils.flop_counter.FlopCounterMode`."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    card = model.card
    x = torch.zeros(1, card.num_frames, 3, card.image_size, card.image_size)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x, return_attention=attention)
    return float(counter.get_total_flops())
