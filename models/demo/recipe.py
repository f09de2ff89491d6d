"""What makes a small video transformer learn motion quickly: embedding init and a training-only probe.

- `init_embeddings`: time and position embeddings re-drawn as cosine (DCT) patterns, so frame order and
  patch position are visible from the first step;
- `load_weights`: or start from a trained model of the same architecture (fine-tuning on new data);
- `AuxHead`: a probe on the last spatial block's patch tokens, trained on dense ground truth from the
  generator (`models.demo.data.aux_targets`) and never saved with the model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.checkpoint import load_pretrained


def dct_basis(n: int) -> torch.Tensor:
    """[n, n-1]: cos(pi k (i + 1/2) / n) for k = 1..n-1 (k = 1 is a ramp over the n positions)."""
    i = torch.arange(n, dtype=torch.float32)
    k = torch.arange(1, n, dtype=torch.float32)
    return torch.cos(math.pi * k[None, :] * (i[:, None] + 0.5) / n)


def embed_along(
    basis: torch.Tensor, dim: int, scale: float, generator: torch.Generator | None
) -> torch.Tensor:
    """`scale * basis @ U.T` with U random orthonormal [dim, K], plus trunc-normal(0.02)-sized noise."""
    directions, _ = torch.linalg.qr(torch.randn(dim, basis.shape[1], generator=generator))
    return scale * basis @ directions.T + 0.02 * torch.randn(basis.shape[0], dim, generator=generator)


def init_embeddings(model: nn.Module, scale: float, *, generator: torch.Generator | None = None) -> None:
    """Re-draw the time and position embeddings as DCT bases along random directions.

    With the usual trunc_normal(0.02) embeddings a fresh model is nearly blind to frame order and to
    patch position: temporal attention is uniform, pooling averages everything, and on `motion` the
    loss sits at ln 11, then at "axis known, direction unknown" (training-notes.md; our first runs here
    learned growing/fading — global statistics — but confused every moving and rotating class).
    Frame t gets `scale * sum_k cos(pi k (t + 1/2) / T) u_k` (k = 1 is a ramp over the clip) and patch
    (y, x) the same over rows plus over columns, so `content x time` and `content x position` products,
    which tell moving left from right and a clip from its reversal, are available from the first
    step. `scale` 0.5 is comparable to the patch embeddings at init. cls slots (a model with a `cls_token`
    has one at the head of `pos_embed`) are left as they are.
    """
    if scale <= 0:
        return
    with torch.no_grad():
        for name in ("time_embed", "temporal_pos_embed"):
            param = getattr(model, name, None)
            if isinstance(param, nn.Parameter):
                offset = 1 if name == "temporal_pos_embed" else 0
                n = param.shape[1] - offset
                if n > 1:
                    param[0, offset:] = embed_along(dct_basis(n), param.shape[2], scale, generator)
        pos = getattr(model, "pos_embed", None)
        if isinstance(pos, nn.Parameter):
            cls = 1 if isinstance(getattr(model, "cls_token", None), nn.Parameter) else 0  # its slot leads
            n = pos.shape[1] - cls
            side = math.isqrt(n)
            if side * side == n and side > 1:
                b = dct_basis(side)  # [side, side-1]
                rows = b[:, None, :].expand(side, side, side - 1).reshape(n, side - 1)
                cols = b[None, :, :].expand(side, side, side - 1).reshape(n, side - 1)
                pos[0, cls:] = embed_along(torch.cat([rows, cols], dim=1), pos.shape[2], scale, generator)


def load_weights(model: nn.Module, source: Path) -> None:
    """Copy a saved model's weights into `model`; its architecture (class and config) must match."""
    trained = load_pretrained(source)
    config: Any = getattr(model, "config", None)
    if type(trained) is not type(model) or trained.config != config:
        raise ValueError(
            f"{source} holds a {type(trained).__name__} with {trained.config}, "
            f"not the {type(model).__name__} being trained ({config})"
        )
    model.load_state_dict(trained.state_dict())


class AuxHead(nn.Module):
    """A training-only probe on the last (spatial) block's patch tokens; never saved with the model.

    It predicts, per frame (tubelet) and patch, the object's coverage, its change and (with `motion`)
    the object's motion (`aux_targets`), which teaches the tokens where the object is, whether it is
    arriving or leaving and which way it goes.
    """

    def __init__(self, model: nn.Module, *, motion: bool = True) -> None:
        super().__init__()
        config: Any = model.config
        dim = int(config.embed_dim)
        self.proj = nn.Linear(dim, 6 if motion else 2)
        self._tokens: torch.Tensor | None = None
        blocks = model.blocks  # the spatial blocks (ViViT FE) or the only blocks (TimeSformer)
        assert isinstance(blocks, nn.ModuleList)
        blocks[-1].register_forward_hook(self._keep)

    def _keep(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        self._tokens = output[0] if isinstance(output, tuple) else output

    def predict(self, batch: int, t_prime: int) -> torch.Tensor:
        """[B, T', n, 2 or 6] from the last forward's tokens, `[B, 1 + T'·n, D]` or `[B·T', 1 + n, D]`."""
        assert self._tokens is not None
        tokens = self._tokens[:, 1:]  # drop the cls token(s); both layouts are frame-major
        return self.proj(tokens.reshape(batch, t_prime, -1, tokens.shape[-1]))
