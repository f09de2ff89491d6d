"""Tiny random Hugging Face reference models, saved the way users bring them (legacy or 5.x keys)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

transformers = __import__("pytest").importorskip("transformers", reason="parity tests need transformers")

TINY: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "num_labels": 5,
    "image_size": 32,
    "num_frames": 4,
}
LABELS = ["abseiling", "bowling", "cooking", "dancing", "eating"]


def randomise(model: nn.Module, seed: int = 0) -> Any:
    """Every parameter random (HF zero-initialises time embeddings, which would hide layout bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g) * 0.1
            is_norm_weight = name.endswith("weight") and p.dim() == 1 and "norm" in name.lower()
            p.copy_(1.0 + noise if is_norm_weight else noise * 2)
    return model.eval()


def _labels(config: Any) -> Any:
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {v: k for k, v in config.id2label.items()}
    return config


def timesformer(attention_type: str = "divided_space_time", **kw: Any) -> Any:
    config = transformers.TimesformerConfig(
        **{**TINY, "patch_size": 8, "attention_type": attention_type, **kw}
    )
    return randomise(transformers.TimesformerForVideoClassification(_labels(config)))


def videomae(**kw: Any) -> Any:
    config = transformers.VideoMAEConfig(**{**TINY, "patch_size": 8, "tubelet_size": 2, **kw})
    return randomise(transformers.VideoMAEForVideoClassification(_labels(config)), seed=1)


def vivit(**kw: Any) -> Any:
    config = transformers.VivitConfig(**{**TINY, "tubelet_size": [2, 8, 8], **kw})
    return randomise(transformers.VivitForVideoClassification(_labels(config)), seed=2)


def save_legacy(model: Any, folder: Path) -> Path:
    """`save_pretrained`: transformers 5.x writes the legacy (hub) key names."""
    model.save_pretrained(folder)
    return folder


def save_current(model: Any, folder: Path) -> Path:
    """The module's own (5.x) state-dict names, as a 5.x-native checkpoint would hold them."""
    folder.mkdir(parents=True, exist_ok=True)
    model.config.to_json_file(folder / "config.json")
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def rewrite_weights(folder: Path, target: Path, edit: Any) -> Path:
    """Copy a HF folder, applying `edit(state_dict) -> state_dict` to its weights."""
    from safetensors.torch import load_file

    shutil.copytree(folder, target)
    sd = edit(dict(load_file(target / "model.safetensors")))
    save_file(sd, str(target / "model.safetensors"), metadata={"format": "pt"})
    return target


def write_preprocessor(folder: Path, mean: list[float], std: list[float], short_side: int) -> None:
    (folder / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": mean, "image_std": std, "size": {"shortest_edge": short_side}})
    )


@torch.no_grad()
def hf_logits(model: Any, x: torch.Tensor) -> torch.Tensor:
    return model(pixel_values=x).logits
