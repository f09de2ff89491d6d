"""Our own checkpoint format: a folder with `config.json` and `model.safetensors`.

`config.json`: `{"format": "vtserve", "format_version": 1, "model": <registry name or arch>,
"arch": <architecture key>, "config": {...typed config...}, "card": {...ModelCard...}}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from models.base import VideoModel
from models.card import ModelCard
from models.convert.common import CheckpointError, Converted
from models.mtv.model import MTV
from models.patterns.model import PatternViT
from models.patterns.multiscale import MultiscaleViT
from models.swin.model import VideoSwin
from models.timesformer import TimeSformer
from models.videomae import VideoMAE
from models.videoprism import VideoPrism
from models.vivit import ViViT, ViViTFactorised
from models.vjepa2 import VJEPA2

FORMAT = "vtserve"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"

#: Architecture key → class; the key is `VideoModel.arch`.
ARCHITECTURES: dict[str, type[VideoModel]] = {
    cls.arch: cls for cls in (TimeSformer, ViViT, ViViTFactorised, VideoMAE, PatternViT, MultiscaleViT)
}
ARCHITECTURES.update({cls.arch: cls for cls in (VideoSwin, MTV)})
ARCHITECTURES.update({cls.arch: cls for cls in (VJEPA2, VideoPrism)})


def is_vtserve(meta: dict[str, Any]) -> bool:
    return meta.get("format") == FORMAT


def save(model: VideoModel, directory: str | Path) -> Path:
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.registry_name or model.arch,
        "arch": model.arch,
        "config": model.config.to_dict(),
        "card": model.card.to_dict(),
    }
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS), metadata={"format": "pt"})
    (folder / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def read(folder: Path, meta: dict[str, Any]) -> Converted:
    version = meta.get("format_version", 1)
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{folder}: vtserve checkpoint format_version {version} is not supported")
    arch = meta.get("arch") or meta.get("model")
    model_cls = ARCHITECTURES.get(str(arch))
    if model_cls is None:
        raise CheckpointError(f"{folder}: unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    try:
        config = model_cls.config_cls.from_dict(meta["config"])
        card = ModelCard.from_dict(meta["card"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder}/{CONFIG}: invalid config or card: {exc}") from exc
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{folder} has no {WEIGHTS}")
    return Converted(model_cls=model_cls, config=config, card=card, state_dict=dict(load_file(weights)))
