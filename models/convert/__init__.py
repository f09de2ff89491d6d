"""Checkpoint conversion: detect the source by its files and keys, then one pure converter per format.

Sources: our folders (`vtserve`), HF folders for TimeSformer / ViViT / VideoMAE / V-JEPA 2 / VideoPrism
(`model_type` in `config.json`, 4.x and 5.x key names), official TimeSformer `.pyth` files. Every
converter returns a `Converted` (class, config at the checkpoint's own grid, card, state dict in our
names); resampling to another grid and the strict load happen in `models.checkpoint`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.convert import (
    hf_timesformer,
    hf_videomae,
    hf_videoprism,
    hf_vivit,
    hf_vjepa2,
    official_timesformer,
    video_swin,
    vtserve,
)
from models.convert.common import (
    CheckpointError,
    Converted,
    HFFormat,
    hf_preprocessing,
    load_state_dict_strict,
    read_hf_weights,
    read_json,
    torch_load_safely,
)

__all__ = ["CheckpointError", "Converted", "load_state_dict_strict", "read_checkpoint"]

#: HF `model_type` → its format; a state dict's keys start with `<model_type>.` (besides the head).
HF_FORMATS: dict[str, HFFormat] = {
    "timesformer": hf_timesformer.FORMAT,
    "vivit": hf_vivit.FORMAT,
    "videomae": hf_videomae.FORMAT,
    "vjepa2": hf_vjepa2.FORMAT,
    "videoprism_vision_model": hf_videoprism.FORMAT,
}


def _hf_model_type(meta: dict[str, Any], keys: list[str]) -> str:
    model_type = meta.get("model_type")
    if model_type in HF_FORMATS:
        return str(model_type)
    for kind in HF_FORMATS:  # no/odd model_type: fall back to the keys
        if any(k.startswith(f"{kind}.") for k in keys):
            return kind
    raise CheckpointError(
        f"unsupported Hugging Face model_type {model_type!r} (supported: {sorted(HF_FORMATS)})"
    )


def read_checkpoint(
    path: Path,
    *,
    allow_unsafe_pickle: bool = False,
    num_heads: int | None = None,
    num_frames: int | None = None,
) -> Converted:
    """Read any supported checkpoint at `path` into our terms (no resampling, no model built yet)."""
    if path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            raise CheckpointError(
                f"{path} is a folder without config.json: not a vtserve or Hugging Face model"
            )
        meta = read_json(config_path)
        if vtserve.is_vtserve(meta):
            return vtserve.read(path, meta)
        state_dict = read_hf_weights(path, allow_unsafe_pickle=allow_unsafe_pickle)
        kind = _hf_model_type(meta, list(state_dict))
        pre = hf_preprocessing(path)
        return HF_FORMATS[kind].convert(meta, state_dict, pre, name=path.name, source=str(path))
    if path.is_file():
        loaded = torch_load_safely(path, allow_unsafe_pickle=allow_unsafe_pickle)
        swin = video_swin.convert_file(loaded, name=path.stem, source=str(path))  # official or torchvision
        if swin is not None:
            return swin
        sd = official_timesformer.extract_state_dict(loaded)
        if sd is None:
            keys = sorted(loaded.get("model_state", loaded)) if isinstance(loaded, dict) else []
            raise CheckpointError(
                f"{path}: not an official TimeSformer checkpoint (expected a dict with 'model_state' holding "
                f"{', '.join(official_timesformer.SIGNATURE)} under 'model.'); first keys: {keys[:10]}"
            )
        return official_timesformer.convert(
            sd, name=path.stem, source=str(path), num_heads=num_heads, num_frames=num_frames
        )
    raise FileNotFoundError(f"no checkpoint at {path}")
