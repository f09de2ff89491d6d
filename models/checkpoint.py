"""`load_pretrained` / `save_pretrained` / `shipped_path`: every checkpoint enters through here.

Loading: detect the source (`models.convert.read_checkpoint`), build the model at the requested grid
(`num_frames`, `image_size`; default the checkpoint's own), resample position/time embeddings
explicitly (`VideoModel.adapt_state_dict`), then `load_state_dict(strict=True)` — a mismatch raises
`CheckpointError` naming the missing, unexpected and misshapen keys; nothing is ever partially loaded.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from models.base import VideoModel
from models.convert import CheckpointError, load_state_dict_strict, read_checkpoint, vtserve
from models.registry import canonical_name

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def shipped_path(name: str) -> Path | None:
    """`models/weights/<name>/` when a shipped checkpoint of that name exists (hyphens ≡ underscores)."""
    for candidate in dict.fromkeys((name, canonical_name(name), name.replace("_", "-"))):
        if "/" in candidate or candidate in ("", ".", ".."):
            continue
        folder = WEIGHTS_DIR / candidate
        if (folder / vtserve.CONFIG).is_file():
            return folder
    return None


def save_pretrained(model: VideoModel, directory: str | Path) -> Path:
    """Write `config.json` (format, model name, typed config, card) and `model.safetensors`."""
    return vtserve.save(model, directory)


def load_pretrained(
    path_or_name: str | Path,
    *,
    num_frames: int | None = None,
    image_size: int | None = None,
    labels: list[str] | tuple[str, ...] | None = None,
    num_heads: int | None = None,
    allow_unsafe_pickle: bool = False,
    **config_overrides: Any,
) -> VideoModel:
    """Load a checkpoint into a model in eval mode, its facts on `model.card`.

    path_or_name: our checkpoint folder, a Hugging Face model folder (TimeSformer / ViViT / VideoMAE),
        an official TimeSformer `.pyth`, or the name of a shipped model (`models/weights/<name>/`).
    num_frames / image_size: run at another frame count / resolution; the embeddings are resampled
        (TimeSformer: nearest in time and space, as the official code; ViViT: (tri)linear; VideoMAE:
        the sinusoid table is recomputed).
    labels: class names, for sources that store none (official `.pyth`).
    num_heads: for official `.pyth` files, which do not store it (default `embed_dim // 64`).
    allow_unsafe_pickle: unpickle `.pyth`/`.bin` files that `torch.load(weights_only=True)` refuses.
    config_overrides: other config fields that do not change weights (`fused_attn=False`, dropout…).
    """
    path = Path(path_or_name)
    if not path.exists():
        shipped = shipped_path(str(path_or_name))
        if shipped is None:
            raise FileNotFoundError(
                f"no checkpoint at {str(path_or_name)!r} and no shipped model of that name in {WEIGHTS_DIR}"
            )
        path = shipped
    source = read_checkpoint(
        path, allow_unsafe_pickle=allow_unsafe_pickle, num_heads=num_heads, num_frames=num_frames
    )
    target: dict[str, Any] = dict(config_overrides)
    if num_frames is not None:
        target["num_frames"] = num_frames
    if image_size is not None:
        target["image_size"] = image_size
    try:
        config = replace(source.config, **target)
    except TypeError as exc:
        raise TypeError(f"load_pretrained: {exc}") from exc
    card = source.card.with_input(num_frames=config.num_frames, image_size=config.image_size)
    if labels is not None:
        if len(labels) != config.num_classes:
            raise CheckpointError(f"{len(labels)} labels given for a head of {config.num_classes} classes")
        card = replace(card, labels=tuple(labels))
    model = source.model_cls(config, card=card)
    state_dict = model.adapt_state_dict(source.state_dict, source_grid=source.config.grid)
    load_state_dict_strict(model, state_dict)
    return model.eval()


__all__ = ["CheckpointError", "load_pretrained", "save_pretrained", "shipped_path"]
