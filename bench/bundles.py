"""The model under test, as both servers need it: one checkpoint folder and one bundle of the same weights.

`--model auto` (the default) uses the shipped `motion-timesformer` when `models/weights/motion-timesformer/`
exists, else the same architecture with random weights; any other registered name is built with random
weights from a fixed seed and saved, so the naive baseline (`models.load_pretrained`) and vtserve (the
exported bundle) run exactly the same weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHIPPED = "motion-timesformer"
# Until the shipped weights exist: the same registered architecture (8×32², patch 8, width 96, 3 layers)
# with random weights from a fixed seed. Timing does not depend on the weights' values.
FALLBACK = "motion_timesformer"


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
    """`auto` → the shipped model if its weights exist, else its architecture with random weights.

    Returns (name, shipped?).
    """
    from models import shipped_path

    if name == "auto":
        name = SHIPPED if shipped_path(SHIPPED) is not None else FALLBACK
    return name, shipped_path(name) is not None


def build_model(name: str, seed: int = 0) -> tuple[Any, str]:
    """The torch model and its report label (shipped weights or random ones from `seed`)."""
    import torch

    import models

    name, shipped = resolve(name)
    if shipped:
        return models.load_pretrained(name), f"{name} (shipped weights)"
    torch.manual_seed(seed)
    return models.create_model(name).eval(), f"{name.replace('_', '-')} (random weights)"


def prepare(name: str, work_dir: Path, *, max_batch: int = 16, attention: bool = True) -> PreparedModel:
    """Checkpoint folder + bundle repository for `name` under `work_dir`.

    The bundle is reused when it was exported from the same weights with the same options (a stamp
    beside it records a hash of the weights folder), so repeated runs do not pay for the export.
    """
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
    export_unless_current(
        repository / served,
        f"{folder_digest(Path(weights_dir))} max_batch={max_batch} attention={attention}",
        lambda: export_model(
            model,
            repository / served,
            max_batch=max_batch,
            attention=attention,
            check_parity=True,
            source=str(weights_dir),
        ),
    )
    card = model.card
    return PreparedModel(
        name=served,
        label=label,
        weights_dir=Path(weights_dir),
        repository=repository,
        num_frames=card.input.num_frames,
        image_size=card.input.image_size,
        gflop_per_clip=flops_per_clip(model) / 1e9,
    )


def export_unless_current(bundle: Path, key: str, export: Callable[[], object]) -> None:
    """Run `export` (which writes `bundle`) unless `bundle` was already exported for `key`.

    A stamp file beside the bundle records the key (weights digest and export options), so repeated
    benchmark runs do not pay for the export, and changed weights or options are exported again.
    """
    from export.manifest import MANIFEST_NAME

    stamp = bundle.with_name(f".{bundle.name}.stamp")
    if (bundle / MANIFEST_NAME).is_file() and stamp.is_file() and stamp.read_text() == key:
        return
    export()
    stamp.write_text(key)


def folder_digest(folder: Path) -> str:
    """sha256 over the names and bytes of the files in `folder` (a checkpoint: a few MB)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def flops_per_clip(model: Any, *, attention: bool = False) -> float:
    """Forward FLOPs for one clip, counted by `torch.utils.flop_counter.FlopCounterMode`."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    card = model.card
    x = torch.zeros(1, card.input.num_frames, 3, card.input.image_size, card.input.image_size)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x, return_attention=attention)
    return float(counter.get_total_flops())
