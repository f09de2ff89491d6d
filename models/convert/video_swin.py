"""Video Swin checkpoints (`.pth`) in the two layouts users have → `VideoSwin`.

* **official / MMAction2**: `{"state_dict": {...}}` (a bare dict is accepted too) with
  `backbone.patch_embed.{proj, norm}.*`, `backbone.layers.{i}.blocks.{j}.{norm1, attn.qkv, attn.proj,
  attn.relative_position_bias_table, attn.relative_position_index, norm2, mlp.fc1, mlp.fc2}.*`,
  `backbone.layers.{i}.downsample.{norm, reduction}.*`, `backbone.norm.*` (MMAction2 1.x: `backbone.norm3.*`),
  `cls_head.fc_cls.*`. Our names are these without `backbone.`, with `head` for `cls_head.fc_cls`.
* **torchvision** `swin3d_t/s/b` (a plain state dict): `patch_embed.*`, `features.{2i}.{j}.…` for stage
  `i`'s blocks with the MLP as `mlp.0` / `mlp.3`, `features.{2i+1}.{norm, reduction}` for its merging,
  `norm.*`, `head.*`.

The architecture is read from the shapes: width and embedding patch (`patch_embed.proj.weight`), blocks
per stage, heads (bias-table columns, doubling per stage), MLP width, qkv bias, patch norm, classes, and
the window: from the `relative_position_index` buffers (exact) or, when they were stripped, from the
bias-table rows `(2Wd−1)(2Wh−1)(2Ww−1)` (square spatial windows; the published 8×7×7 / 16×7×7 first
when several fit — pass `window_size=` to `load_pretrained` then). Not stored: frames and image size
(32 × 224 unless given: there is no position embedding, any multiple of the cell runs) and labels.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np
from torch import Tensor

from models.convert.common import CheckpointError, Converted, rename_keys
from models.swin.model import VideoSwin, VideoSwinConfig
from models.swin.windows import Triple, relative_position_index, table_rows

OFFICIAL_KEY = "backbone.patch_embed.proj.weight"
TORCHVISION_KEY = "features.0.0.attn.relative_position_bias_table"
OFFICIAL_RULES = (
    (r"backbone\.norm3?\.(weight|bias)", r"norm.\1"),
    (r"backbone\.(.+)", r"\1"),
    (r"cls_head\.fc_cls\.(weight|bias)", r"head.\1"),
)
PUBLISHED_WINDOWS: tuple[Triple, ...] = ((8, 7, 7), (16, 7, 7), (2, 7, 7))
_TV_BLOCK = re.compile(r"features\.(\d+)\.(\d+)\.(.+)")
_TV_MERGE = re.compile(r"features\.(\d+)\.(norm|reduction)\.(.+)")
_TV_MLP = {"mlp.0.": "mlp.fc1.", "mlp.3.": "mlp.fc2."}


def _tensors(raw: dict[Any, Any]) -> dict[str, Tensor]:
    return {str(k): v for k, v in raw.items() if isinstance(v, Tensor)}


def official_to_ours(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Official / MMAction2 names → ours (the index buffers are kept for `VideoSwin.adapt_state_dict`)."""
    return rename_keys(state_dict, OFFICIAL_RULES, drop=(r"data_preprocessor\..*",))


def torchvision_to_ours(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """torchvision `SwinTransformer3d` names → ours."""
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        new = key
        merge, block = _TV_MERGE.fullmatch(key), _TV_BLOCK.fullmatch(key)
        if merge and int(merge[1]) % 2:
            new = f"layers.{int(merge[1]) // 2}.downsample.{merge[2]}.{merge[3]}"
        elif block and int(block[1]) % 2 == 0:
            rest = block[3]
            for old, ours in _TV_MLP.items():
                rest = rest.replace(old, ours) if rest.startswith(old) else rest
            new = f"layers.{int(block[1]) // 2}.blocks.{block[2]}.{rest}"
        out[new] = value
    return out


def _window_candidates(rows: int) -> list[Triple]:
    fits = [(d, m, m) for m in range(2, 65) for d in range(1, 129) if table_rows((d, m, m)) == rows]
    published = [w for w in PUBLISHED_WINDOWS if w in fits]
    return published + [w for w in fits if w not in published]


def infer_window(sd: dict[str, Tensor]) -> Triple:
    """The window the first block was built for (see the module docstring)."""
    rows = sd["layers.0.blocks.0.attn.relative_position_bias_table"].shape[0]
    stored = sd.get("layers.0.blocks.0.attn.relative_position_index")
    if stored is not None:
        n, index = stored.shape[0], stored.cpu().numpy()
        exact = [
            (d, h, n // (d * h))
            for d in range(1, n + 1)
            for h in range(1, n // d + 1)
            if n % (d * h) == 0 and table_rows((d, h, n // (d * h))) == rows
        ]
        for window in exact:
            if np.array_equal(relative_position_index(window), index):
                return window
        raise CheckpointError(
            f"no window fits relative_position_index {list(stored.shape)} and {rows} bias rows"
        )
    candidates = _window_candidates(rows)
    if not candidates:
        raise CheckpointError(f"no 3-D window has a relative position bias table of {rows} rows")
    return candidates[0]


def _stage_depths(sd: dict[str, Tensor]) -> tuple[int, ...]:
    stages = sorted({int(k.split(".")[1]) for k in sd if k.startswith("layers.")})
    if stages != list(range(len(stages))) or not stages:
        raise CheckpointError(f"Video Swin stages must be layers.0 … layers.n, found {stages}")
    return tuple(len({k.split(".")[3] for k in sd if k.startswith(f"layers.{i}.blocks.")}) for i in stages)


def config_from_state_dict(sd: dict[str, Tensor]) -> VideoSwinConfig:
    """The architecture stored in a state dict in our names (frames and size: 32 × 224)."""
    proj = sd["patch_embed.proj.weight"]  # [C, in, t, p, p]
    dim, in_chans, tubelet, patch = (int(proj.shape[i]) for i in (0, 1, 2, 3))
    depths = _stage_depths(sd)
    heads = [
        int(sd[f"layers.{i}.blocks.0.attn.relative_position_bias_table"].shape[1]) for i in range(len(depths))
    ]
    if heads != [heads[0] << i for i in range(len(depths))]:
        raise CheckpointError(f"heads per stage {heads} do not double from stage to stage")
    cell = patch << (len(depths) - 1)
    return VideoSwinConfig(
        num_frames=max(32 // tubelet, 1) * tubelet,
        image_size=-(-224 // cell) * cell,
        patch_size=cell,
        tubelet_size=tubelet,
        in_chans=in_chans,
        num_classes=int(sd["head.weight"].shape[0]),
        embed_dim=dim,
        num_heads=heads[0],
        mlp_dim=int(sd["layers.0.blocks.0.mlp.fc1.weight"].shape[0]),
        depths=depths,
        window_size=infer_window(sd),
        qkv_bias="qkv" if "layers.0.blocks.0.attn.qkv.bias" in sd else "none",
        patch_norm="patch_embed.norm.weight" in sd,
    )


def convert_file(loaded: Any, *, name: str, source: str) -> Converted | None:
    """A loaded `.pth` in either layout → `Converted`; None when it is not a Video Swin checkpoint."""
    if not isinstance(loaded, dict):
        return None
    inner = loaded.get("state_dict", loaded)
    raw = _tensors(inner) if isinstance(inner, dict) else {}
    if OFFICIAL_KEY in raw:
        sd = official_to_ours(raw)
    elif TORCHVISION_KEY in raw and "patch_embed.proj.weight" in raw:
        sd = torchvision_to_ours(raw)
    else:
        return None
    config = config_from_state_dict(sd)
    card = replace(VideoSwin.default_card(config, name=name), source=source)
    return Converted(model_cls=VideoSwin, config=config, card=card, state_dict=sd)
