"""Video Swin Transformer (Liu et al. 2022): 3-D shifted windows, 3-D relative position bias, patch merging.

Numerically the official `SwinTransformer3D` + `I3DHead` (SwinTransformer/Video-Swin-Transformer,
MMAction2) and torchvision's `swin3d_t/s/b` (their computation is the same; only parameter names differ,
see `models.convert.video_swin`). No cls token, no absolute position embedding:

    video [B, T, 3, H, W] → Conv3d patches (tubelet × p × p) → LayerNorm            [B, T'·H/p·W/p, C]
      → stage 1 (depths[0] blocks, width C) → merge → stage 2 (2C) → … → stage n (2ⁿ⁻¹C)
      → LayerNorm → mean over all tokens → Linear (the I3D head's global average pool)

Stage `i` has width `embed_dim·2^i`, `num_heads·2^i` heads and an MLP of `hidden_dim·2^i`; patch merging
halves `h` and `w` and never T'. Windows are clamped per stage (`models.swin.windows`); even blocks use
regular windows, odd blocks windows shifted by half.

**`patch_size` is the side in pixels of a last-stage cell** (the input contract's cell, on which the
attention maps are reported): the patch embedding's spatial patch is `patch_size / 2^(n−1)` — 32 for
the published models, i.e. the 2×4×4 embedding merged three times. `tubelet_size` is the embedding's
temporal patch (2). The model's grid, attention maps and contract are the last stage's:
`(T/2, S/32, S/32)` = 16 × 7 × 7 at 32 × 224. See `models.swin.maps` for the maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from torch import Tensor, nn

from models.attention_maps import AttentionMaps, reduce_attention
from models.base import VideoConfig, VideoModel
from models.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from models.contract import Grid
from models.swin.layers import PatchEmbed3D, SwinStage, WindowAttention
from models.swin.maps import PATTERN, ShiftedWindowAttention
from models.swin.windows import Triple, relative_position_index

#: Blocks of the last stage whose attention makes the maps (a regular- and a shifted-window block).
MAP_BLOCKS = 2


@dataclass(frozen=True, kw_only=True)
class VideoSwinConfig(VideoConfig):
    """A Video Swin; `embed_dim`, `num_heads`, `mlp_dim` are stage 1's and double at every stage.

    `depths`: blocks per stage (their number is the number of stages); `depth` is derived (their sum).
    `window_size`: `(Wd, Wh, Ww)` in tokens, the same for every stage, clamped per stage.
    `patch_size`: pixels per side of a last-stage cell (see the module docstring); `tubelet_size`:
    frames per token. `patch_norm`: LayerNorm after the patch embedding (every published model).
    """

    num_frames: int = 32
    image_size: int = 224
    patch_size: int = 32
    tubelet_size: int = 2
    embed_dim: int = 96
    num_heads: int = 3
    depths: tuple[int, ...] = (2, 2, 6, 2)
    window_size: Triple = (8, 7, 7)
    patch_norm: bool = True
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        depths = tuple(int(d) for d in self.depths)  # JSON gives lists
        window = tuple(int(w) for w in self.window_size)
        object.__setattr__(self, "depths", depths)
        object.__setattr__(self, "window_size", window)
        object.__setattr__(self, "depth", sum(depths))
        if not depths or min(depths) < 1:
            raise ValueError(f"depths must be positive block counts, got {depths}")
        if len(window) != 3 or min(window) < 1:
            raise ValueError(f"window_size must be 3 positive sizes (Wd, Wh, Ww), got {window}")
        merges = 2 ** (len(depths) - 1)
        if self.patch_size % merges:
            raise ValueError(
                f"patch_size={self.patch_size} (the last stage's cell) is not a multiple of {merges}"
            )
        super().__post_init__()

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def embed_patch(self) -> Triple:
        """The patch embedding's kernel `(tubelet, p, p)`, `p = patch_size / 2^(stages − 1)`."""
        p = self.patch_size >> (self.num_stages - 1)
        return self.tubelet_size, p, p

    def stage_grids(self) -> tuple[Grid, ...]:
        """The `(T', h, w)` grid of every stage; the last is `self.grid`."""
        t, h = self.num_frames // self.tubelet_size, self.image_size // self.embed_patch[1]
        return tuple(Grid(t, h >> i, h >> i) for i in range(self.num_stages))


class VideoSwin(VideoModel):
    """Patch embedding, `len(depths)` stages (`layers.{i}`), final `norm`, mean pool, `head`."""

    arch = "video_swin"
    config_cls = VideoSwinConfig
    config: VideoSwinConfig
    card_attention = PATTERN
    # the official test protocol: 32 frames at stride 2, 4 clips × 3 crops, ImageNet mean/std
    card_policy = MappingProxyType(
        {
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "sampling": "stride",
            "frame_stride": 2,
            "test_clips": 4,
            "test_crops": 3,
        }
    )

    def __init__(self, config: VideoSwinConfig, card: ModelCard | None = None) -> None:
        super().__init__(config, card)
        c = config
        self.patch_embed = PatchEmbed3D(
            patch=c.embed_patch,
            in_chans=c.in_chans,
            dim=c.embed_dim,
            patch_norm=c.patch_norm,
            norm_eps=c.norm_eps,
        )
        self.pos_drop = nn.Dropout(c.drop_rate)
        rates = c.drop_path_rates()
        grids = c.stage_grids()
        kwargs = c.block_kwargs(0.0)
        del kwargs["drop_path"]
        self.layers = nn.ModuleList()
        for i, depth in enumerate(c.depths):
            start = sum(c.depths[:i])
            self.layers.append(
                SwinStage(
                    dim=c.embed_dim << i,
                    num_heads=c.num_heads << i,
                    mlp_dim=c.hidden_dim << i,
                    grid=grids[i],
                    window=c.window_size,
                    drop_paths=rates[start : start + depth],
                    downsample=i < c.num_stages - 1,
                    block_kwargs=kwargs,
                )
            )
        self.norm = nn.LayerNorm(c.embed_dim << (c.num_stages - 1), eps=c.norm_eps)
        self.head_drop = nn.Dropout(c.drop_rate)
        self.head = nn.Linear(c.embed_dim << (c.num_stages - 1), c.num_classes)
        self._init_weights(
            *(m.relative_position_bias_table for m in self.modules() if isinstance(m, WindowAttention))
        )

    def token_grids(self) -> dict[str, Grid]:
        """The attention grid (the last stage's) and every stage's grid (`stage1` … `stage<n>`)."""
        stages = {f"stage{i + 1}": grid for i, grid in enumerate(self.config.stage_grids())}
        return {**super().token_grids(), **stages}

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        tokens = self.pos_drop(self.patch_embed(x))
        attention: ShiftedWindowAttention | None = None
        last = len(self.layers) - 1
        for i, stage in enumerate(self.layers):
            wanted = MAP_BLOCKS if return_attention and i == last else 0
            tokens, attention = stage(tokens, attention_blocks=wanted)
        return self.norm(tokens).mean(dim=1), reduce_attention(attention)

    def adapt_state_dict(
        self, state_dict: dict[str, Tensor], *, source_grid: Grid | None = None
    ) -> dict[str, Tensor]:
        """Check a checkpoint's `relative_position_index` buffers against this model's window, drop them.

        There is nothing to resample (no absolute position embedding); the index buffers the references
        save are rebuilt from `window_size`, so a checkpoint made for another window is refused here
        rather than loaded with misplaced biases.
        """
        sd = dict(state_dict)
        expected = relative_position_index(self.config.window_size)
        for key in [k for k in sd if k.endswith("attn.relative_position_index")]:
            stored = sd.pop(key).cpu().numpy()
            if stored.shape != expected.shape or (stored != expected).any():
                from models.convert.common import CheckpointError

                raise CheckpointError(
                    f"{key} was built for another window than window_size={self.config.window_size}; "
                    "pass the checkpoint's window_size="
                )
        return sd
