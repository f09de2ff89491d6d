"""Temporal relevance allocation: a joint-attention model runs on the tokens that change, a fixed share
per clip.

In a joint space–time encoder (ViViT Model 1, VideoMAE, V-JEPA 2) every token attends to every other, so
any subset of the tokens is a valid input of the same weights. `TokenPruned(model, keep_ratio)` runs
`model` on `k = round(keep_ratio · T'·h·w)` tokens per clip, chosen inside the graph:

1. **score** — token `(t, i, j)`'s temporal relevance is the mean over channels of
   `|e(t, i, j) − e(t − 1, i, j)|`, the change of its patch embedding (before positions) from the
   previous tubelet slice at the same place. The first slice has no predecessor and takes the second
   slice's score (as EVEREST does), so an object there from the start keeps its first tokens; a clip of
   one slice scores every token 0.
2. **keep** the `k` best: rank = number of tokens with a higher score, or an equal score and a lower
   index (a strict order, so onnxruntime and PyTorch keep the same tokens even on ties); the kept indices
   come out ascending. `k` is a constant of the graph (TopK + Gather), so every shape is static for
   ONNX and TensorRT, whatever the clip.
3. **encode** the kept tokens: positions are attached before selection (ViViT's learned table and
   VideoMAE's sinusoid table are added first; V-JEPA 2 gives the kept grid indices to its 3-D RoPE);
   ViViT's cls token is always kept.
4. **pool** as the model does, over what is left (ViViT: cls; VideoMAE: mean of the kept tokens;
   V-JEPA 2: the attentive pooler over the kept tokens).
5. **maps** — the last layer's probabilities (and V-JEPA 2's pooler attention) are scattered back onto
   the full grid, pruned tokens getting zero attention as queries and as keys, then reduced exactly as
   the unpruned model's. The maps cover the whole `(T', h, w)` grid; a frame none of whose tokens was
   kept has a zero spatial map and a zero temporal row (the service shows such a row as uniform).

With `keep_ratio = 1.0`, `k = L`, the kept indices are `0 … L − 1` and every step is the identity: the
logits and maps equal the unpruned model's bit for bit. Latency falls with `k` (attention is
quadratic in it); the score costs one subtraction over the embeddings and an `L × L` comparison.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from models.attention_maps import AttentionMaps, joint_maps
from models.base import VideoModel
from models.blocks import run_blocks
from models.contract import Grid
from models.outputs import VideoOutput
from models.videomae import VideoMAE
from models.vivit import ViViT
from models.vjepa2 import VJEPA2, VJEPA2Attention, vjepa2_reducer


def kept_count(tokens: int, keep_ratio: float) -> int:
    """`round(keep_ratio · tokens)`, at least 1; raises ValueError outside `0 < keep_ratio ≤ 1`."""
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
    return max(1, min(tokens, round(keep_ratio * tokens)))


def relevance(content: Tensor, grid: Grid) -> Tensor:
    """`[B, T'·h·w, D]` patch embeddings (frame-major) → `[B, T'·h·w]` temporal relevance scores."""
    if grid.t == 1:
        return content.new_zeros(content.shape[:2])
    frames = content.reshape(-1, grid.t, grid.patches, content.shape[-1])
    change = (frames[:, 1:] - frames[:, :-1]).abs().mean(dim=-1)  # [B, T' − 1, n]
    return torch.cat((change[:, :1], change), dim=1).reshape(-1, grid.tokens)


def select(scores: Tensor, k: int) -> Tensor:
    """The `k` highest `[B, L]` scores' indices `[B, k]`, ascending; ties go to the lower index."""
    length = scores.shape[1]
    index = torch.arange(length, device=scores.device)
    s_i, s_j = scores.unsqueeze(2), scores.unsqueeze(1)  # [B, i, 1], [B, 1, j]
    ahead = (s_j > s_i) | ((s_j == s_i) & (index.unsqueeze(0) < index.unsqueeze(1)))  # j ranks before i
    keep = ahead.sum(dim=-1) < k  # exactly k per clip
    key = keep.to(scores.dtype) * (length - index).to(scores.dtype)  # kept: distinct, larger for lower i
    return torch.topk(key, k, dim=1).indices


def gather_tokens(tokens: Tensor, kept: Tensor) -> Tensor:
    """`[B, L, D]`, `[B, k]` → `[B, k, D]`."""
    return tokens.gather(1, kept.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def scatter_row(weights: Tensor, kept: Tensor, length: int) -> Tensor:
    """`[B, k]` weights of the kept tokens → `[B, L]`, zero at pruned tokens."""
    return weights.new_zeros(weights.shape[0], length).scatter(1, kept, weights)


def scatter_square(probs: Tensor, kept: Tensor, length: int, *, prefix: int = 0) -> Tensor:
    """`[B, P + k, P + k]` attention over `[P prefix tokens; kept]` → `[B, P + L, P + L]` on the full grid."""
    batch = probs.shape[0]
    if prefix:
        head = torch.arange(prefix, device=kept.device).expand(batch, prefix)
        kept = torch.cat((head, kept + prefix), dim=1)
    full, size = prefix + length, kept.shape[1]
    rows = probs.new_zeros(batch, full, size).scatter(1, kept.unsqueeze(-1).expand(-1, -1, size), probs)
    return probs.new_zeros(batch, full, full).scatter(2, kept.unsqueeze(1).expand(-1, full, -1), rows)


Pruner = Callable[[VideoModel, Tensor, int, bool], tuple[Tensor, AttentionMaps | None]]


def _joint_content(model: ViViT | VideoMAE, x: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """A ViViT/VideoMAE clip's patch embeddings `[B, L, D]` (before positions) and the kept indices."""
    content = model.patch_embed(x).reshape(-1, model.grid.tokens, model.config.embed_dim)
    return content, select(relevance(content, model.grid), k)


def _run_kept(
    model: ViViT | VideoMAE, tokens: Tensor, kept: Tensor, *, prefix: int, return_attention: bool
) -> tuple[Tensor, AttentionMaps | None]:
    """The model's blocks over `[prefix tokens; kept tokens]`; the last layer's maps on the full grid."""
    grid = model.grid
    tokens, attention = run_blocks(model.blocks, tokens, grid, return_attention=return_attention)
    if attention is None:
        return tokens, None
    probs = scatter_square(attention.probs[0], kept, grid.tokens, prefix=prefix)
    return tokens, joint_maps(probs, grid, has_cls=prefix > 0)


def _vivit(
    model: VideoModel, x: Tensor, k: int, return_attention: bool
) -> tuple[Tensor, AttentionMaps | None]:
    assert isinstance(model, ViViT)
    content, kept = _joint_content(model, x, k)
    patches = gather_tokens(content + model.pos_embed[:, 1:], kept)
    cls = (model.cls_token + model.pos_embed[:, :1]).expand(patches.shape[0], -1, -1)
    tokens = model.pos_drop(torch.cat((cls, patches), dim=1))
    tokens, maps = _run_kept(model, tokens, kept, prefix=1, return_attention=return_attention)
    return model.norm(tokens[:, 0]), maps


def _videomae(
    model: VideoModel, x: Tensor, k: int, return_attention: bool
) -> tuple[Tensor, AttentionMaps | None]:
    assert isinstance(model, VideoMAE)
    content, kept = _joint_content(model, x, k)
    tokens = model.pos_drop(gather_tokens(content + model.pos_table.to(x.dtype), kept))
    tokens, maps = _run_kept(model, tokens, kept, prefix=0, return_attention=return_attention)
    return model.fc_norm(tokens.mean(dim=1)), maps


def _vjepa2(
    model: VideoModel, x: Tensor, k: int, return_attention: bool
) -> tuple[Tensor, AttentionMaps | None]:
    assert isinstance(model, VJEPA2)
    grid = model.grid
    content = model.embed(x)
    kept = select(relevance(content, grid), k)
    pooled, attention = model.encode_and_pool(
        gather_tokens(content, kept), kept, return_attention=return_attention
    )
    if attention is None:
        return pooled, None
    encoder, pooler = attention.probs
    full = VJEPA2Attention(
        pattern="vjepa2",
        grid=grid,
        probs=(scatter_square(encoder, kept, grid.tokens), scatter_row(pooler, kept, grid.tokens)),
        has_cls=False,
    )
    return pooled, vjepa2_reducer(full)


#: Model class → how it runs on a subset of its tokens (joint-attention models only).
PRUNERS: dict[type[VideoModel], Pruner] = {ViViT: _vivit, VideoMAE: _videomae, VJEPA2: _vjepa2}


def supports_pruning(model: nn.Module) -> bool:
    return type(model) in PRUNERS


class TokenPruned(nn.Module):
    """`model` run on the `keep_ratio` most temporally relevant tokens of each clip (module docstring).

    Same interface as a `VideoModel` for export and serving: `forward(x, *, return_attention=False) ->
    VideoOutput` with the maps on the full grid; `card`, `config` and `grid` are the model's.
    """

    def __init__(self, model: VideoModel, keep_ratio: float) -> None:
        super().__init__()
        pruner = PRUNERS.get(type(model))
        if pruner is None:
            supported = ", ".join(sorted(cls.__name__ for cls in PRUNERS))
            raise ValueError(
                f"token pruning needs a joint-attention model ({supported}); "
                f"{type(model).__name__} ({model.card.attention}) is not one"
            )
        self.model = model
        self.keep_ratio = float(keep_ratio)
        self.keep = kept_count(model.grid.tokens, self.keep_ratio)
        self._pruner = pruner
        self.card = model.card
        self.config = model.config

    @property
    def grid(self) -> Grid:
        return self.model.grid

    def set_fused_attn(self, fused: bool) -> None:
        self.model.set_fused_attn(fused)

    def forward(self, x: Tensor, *, return_attention: bool = False) -> VideoOutput:
        c = self.model.config
        expected = (c.num_frames, c.in_chans, c.image_size, c.image_size)
        if x.dim() != 5 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected input [B, {', '.join(map(str, expected))}], got {list(x.shape)}")
        features, maps = self._pruner(self.model, x, self.keep, return_attention)
        logits = self.model.forward_head(features)
        if maps is None:
            return VideoOutput(logits)
        return VideoOutput(logits, maps.temporal, maps.spatial)


def prune_tokens(model: VideoModel, keep_ratio: float) -> nn.Module:
    """`model` itself at `keep_ratio` 1.0 (nothing to prune), else `TokenPruned(model, keep_ratio)`."""
    kept_count(model.grid.tokens, keep_ratio)  # validates the ratio
    return model if keep_ratio == 1.0 else TokenPruned(model, keep_ratio)
