"""VideoMAE (Tong et al. 2022) fine-tuned classifier: numerically HF `VideoMAEForVideoClassification`.

Tubelet Conv3d `(2, 16, 16)`; tokens `[B, T'·h·w, D]` frame-major, **no cls token**; a fixed sinusoid
position table over the flattened token index (computed in float64, never stored in checkpoints);
joint attention with q and v biases but no k bias; mean pooling over all tokens → `fc_norm` → head.
LayerNorm eps: HF uses `1e-12` in the blocks and `1e-5` in `fc_norm` (the original code 1e-6); the
defaults match HF so hub checkpoints give HF's logits.

Other frame counts / resolutions: nothing to resample — the table is recomputed for the new token
count, exactly what the reference does when configured with other sizes (note the table indexes the
flattened `(t, h, w)` position, so a new grid changes which position each entry describes).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from torch import Tensor, nn

from models.attention_maps import AttentionMaps, reduce_attention
from models.base import VideoConfig, VideoModel
from models.blocks import build_blocks, run_blocks
from models.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from models.layers import QkvBias, sinusoid_table


@dataclass(frozen=True, kw_only=True)
class VideoMAEConfig(VideoConfig):
    num_frames: int = 16
    image_size: int = 224
    tubelet_size: int = 2
    qkv_bias: QkvBias = "qv"
    norm_eps: float = 1e-12
    fc_norm_eps: float = 1e-5


class VideoMAE(VideoModel):
    arch = "videomae"
    config_cls = VideoMAEConfig
    config: VideoMAEConfig
    card_attention = "joint_space_time"
    # VideoMAE's Kinetics protocol: 5 temporal clips x 3 spatial crops
    card_policy = MappingProxyType(
        {
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "sampling": "stride",
            "frame_stride": 4,
            "test_clips": 5,
            "test_crops": 3,
        }
    )
    pos_table: Tensor

    def __init__(self, config: VideoMAEConfig, card: ModelCard | None = None) -> None:
        super().__init__(config, card)
        c, d = config, config.embed_dim
        self.patch_embed = c.tubelet_embed()
        self.register_buffer("pos_table", sinusoid_table(c.grid.tokens, d), persistent=False)
        self.pos_drop = nn.Dropout(c.drop_rate)
        self.blocks = build_blocks("joint_space_time", c, c.drop_path_rates(), has_cls=False)
        self.fc_norm = nn.LayerNorm(d, eps=c.fc_norm_eps)
        self.head_drop = nn.Dropout(c.drop_rate)
        self.head = nn.Linear(d, c.num_classes)
        self._init_weights()

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        grid, d = self.grid, self.config.embed_dim
        tokens = self.patch_embed(x).reshape(-1, grid.tokens, d) + self.pos_table.to(x.dtype)
        tokens, attention = run_blocks(
            self.blocks, self.pos_drop(tokens), grid, return_attention=return_attention
        )
        return self.fc_norm(tokens.mean(dim=1)), reduce_attention(attention)
