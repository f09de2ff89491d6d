"""A training run's state: the validation measure, the curve log and the resumable checkpoint.

`runs/<name>/log.jsonl` gets one line per validation point; `runs/<name>/checkpoint.pt` holds the model,
the probe, the optimiser and the `RunState`, written atomically, so `--resume` continues exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.contract import InputContract
from models.demo.data import to_tensor
from models.demo.motion import PARTNER
from models.demo.recipe import AuxHead

Logger = Callable[[str], None]


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Logits for a normalised batch [N, T, 3, H, W], evaluated in chunks."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [model(x[i : i + batch_size].to(device)).logits.cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out)


def accuracy_and_reversal(
    model: nn.Module, clips: np.ndarray, labels: np.ndarray, spec: InputContract
) -> dict[str, float]:
    """Top-1 accuracy, and the share of paired-class clips whose reversal is predicted as the partner."""
    x = to_tensor(clips, spec.mean, spec.std)
    pred = predict(model, x).argmax(1).numpy()
    paired = labels != 0
    rev = predict(model, x[paired].flip(1)).argmax(1).numpy()
    partner = np.asarray(PARTNER)[labels[paired]]
    return {"acc": float((pred == labels).mean()), "reversal": float((rev == partner).mean())}


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """`torch.save` to a temporary file, then an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


@dataclass(kw_only=True)
class RunState:
    """Where a run is: what a checkpoint saves (with the weights), so a resumed run goes on exactly."""

    step: int = 0
    total: int = 10**9  # until calibrated from --minutes
    elapsed: float = 0.0
    curve: list[dict[str, Any]] = field(default_factory=list)


def load_checkpoint(path: Path, model: nn.Module, aux: AuxHead, opt: torch.optim.Optimizer) -> RunState:
    """Restore the model, the probe and the optimiser in place; returns the run's state."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    aux.load_state_dict(state["aux"])
    opt.load_state_dict(state["optimizer"])
    return RunState(step=state["step"], total=state["total"], elapsed=state["elapsed"], curve=state["curve"])


@dataclass(frozen=True, kw_only=True)
class Validation:
    """The fixed validation clips of a run, the model's input contract and the run's folder."""

    clips: np.ndarray
    labels: np.ndarray
    spec: InputContract
    run_dir: Path


def record(
    model: nn.Module,
    aux: AuxHead,
    opt: torch.optim.Optimizer,
    run: RunState,
    val: Validation,
    point: dict[str, Any],
    config: dict[str, str],
    log: Logger,
) -> dict[str, Any]:
    """Measure on the validation set, log the curve point and save a resumable checkpoint (with the
    run's `config` for the record)."""
    metrics = accuracy_and_reversal(model, val.clips, val.labels, val.spec)
    point = {**point, "val_acc": round(metrics["acc"], 4), "val_reversal": round(metrics["reversal"], 4)}
    run.curve.append(point)
    with (val.run_dir / "log.jsonl").open("a") as fh:
        fh.write(json.dumps(point) + "\n")
    log(
        f"step {run.step:>6}/{run.total}  {point['minutes']:6.1f} min  loss {point['loss']:.3f}  "
        f"val acc {point['val_acc']:.3f}  reversal {point['val_reversal']:.3f}  "
        f"d_max {point['max_difficulty']:.2f}"
    )
    state = {"model": model.state_dict(), "aux": aux.state_dict(), "optimizer": opt.state_dict()}
    save_checkpoint(val.run_dir / "checkpoint.pt", {**state, **asdict(run), "config": config})
    return point
