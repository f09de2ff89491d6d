"""`Attention` with masks and additive biases: every path agrees, and with a brute-force reference."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from models.layers import Attention

HEADS, DIM, LENGTH, BATCH = 3, 12, 7, 4


def _attention(seed: int = 0) -> Attention:
    torch.manual_seed(seed)
    attn = Attention(DIM, HEADS).eval()
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0, 0.3)
    return attn


def _window_mask(length: int, width: int) -> Tensor:
    """`[L, L]`: True iff `|i − j| ≤ width // 2` (the windowed temporal pattern)."""
    i = torch.arange(length)
    return (i[:, None] - i[None, :]).abs() <= width // 2


def _all_paths(attn: Attention, x: Tensor, **kw: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(fused, explicit, one-head-at-a-time) outputs and the head-averaged probabilities."""
    attn.fused = True
    fused, none = attn(x, **kw)
    assert none is None
    attn.fused = False
    explicit, _ = attn(x, **kw)
    per_head, weights = attn(x, need_weights=True, **kw)
    assert weights is not None
    return fused, explicit, per_head, weights


MASKS = {
    "shared [L, L]": lambda g: _window_mask(LENGTH, 3),
    "per head [H, L, L]": lambda g: torch.rand(HEADS, LENGTH, LENGTH, generator=g) > 0.4,
    "per sequence [N, 1, L, L]": lambda g: torch.rand(BATCH, 1, LENGTH, LENGTH, generator=g) > 0.4,
}


@pytest.mark.parametrize("kind", list(MASKS))
def test_fused_and_explicit_agree_with_a_mask(kind: str) -> None:
    g = torch.Generator().manual_seed(1)
    mask = MASKS[kind](g)
    mask = mask | torch.eye(LENGTH, dtype=torch.bool)  # every query keeps at least itself
    x = torch.randn(BATCH, LENGTH, DIM, generator=g)
    fused, explicit, per_head, weights = _all_paths(_attention(), x, mask=mask)
    torch.testing.assert_close(fused, explicit, rtol=0, atol=1e-5)
    torch.testing.assert_close(per_head, explicit, rtol=0, atol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(BATCH, LENGTH))


def test_fused_and_explicit_agree_with_a_bias_and_with_both() -> None:
    g = torch.Generator().manual_seed(2)
    bias = torch.randn(HEADS, LENGTH, LENGTH, generator=g)  # e.g. a relative position bias per head
    x = torch.randn(BATCH, LENGTH, DIM, generator=g)
    attn = _attention()
    plain = attn(x)[0]
    for kw in ({"bias": bias}, {"bias": bias, "mask": _window_mask(LENGTH, 5)}):
        fused, explicit, per_head, _ = _all_paths(attn, x, **kw)
        torch.testing.assert_close(fused, explicit, rtol=0, atol=1e-5)
        torch.testing.assert_close(per_head, explicit, rtol=0, atol=1e-5)
        assert (fused - plain).abs().max() > 1e-3  # the bias is not ignored


def test_a_masked_key_gets_exactly_zero_probability() -> None:
    mask = _window_mask(LENGTH, 3)
    x = torch.randn(BATCH, LENGTH, DIM, generator=torch.Generator().manual_seed(3))
    _, weights = _attention()(x, mask=mask, need_weights=True)
    assert weights is not None
    assert (weights[:, ~mask] == 0.0).all()
    assert (weights[:, mask] > 0.0).all()


def test_a_minus_inf_bias_masks_like_a_mask() -> None:
    mask = _window_mask(LENGTH, 3)
    bias = torch.zeros(LENGTH, LENGTH).masked_fill(~mask, float("-inf"))
    x = torch.randn(BATCH, LENGTH, DIM, generator=torch.Generator().manual_seed(4))
    attn = _attention()
    for fused in (True, False):
        attn.fused = fused
        torch.testing.assert_close(attn(x, mask=mask)[0], attn(x, bias=bias)[0], rtol=0, atol=0)


def _brute_force(attn: Attention, x: Tensor, mask: Tensor, bias: Tensor) -> Tensor:
    """Per sequence, head and query: softmax over the allowed keys only, in float64, from the weights."""
    w, b = attn.qkv.weight.double(), attn.qkv.bias.double()
    d = attn.head_dim
    out = torch.zeros(x.shape[0], x.shape[1], DIM, dtype=torch.float64)
    for n in range(x.shape[0]):
        qkv = x[n].double() @ w.T + b  # [L, 3·D]
        for h in range(HEADS):
            q, k, v = (qkv[:, part * DIM + h * d : part * DIM + (h + 1) * d] for part in range(3))
            for i in range(x.shape[1]):
                keys = [j for j in range(x.shape[1]) if mask[h, i, j]]
                logits = torch.stack([q[i] @ k[j] / math.sqrt(d) + bias[h, i, j] for j in keys])
                probs = logits.softmax(0)
                out[n, i, h * d : (h + 1) * d] = sum(p * v[j] for p, j in zip(probs, keys, strict=True))
    return out @ attn.proj.weight.double().T + attn.proj.bias.double()


def test_every_path_equals_a_per_query_reference() -> None:
    g = torch.Generator().manual_seed(5)
    mask = (torch.rand(HEADS, LENGTH, LENGTH, generator=g) > 0.5) | torch.eye(LENGTH, dtype=torch.bool)
    bias = torch.randn(HEADS, LENGTH, LENGTH, generator=g)
    x = torch.randn(2, LENGTH, DIM, generator=g)
    attn = _attention()
    expected = _brute_force(attn, x, mask, bias).float()
    for got in _all_paths(attn, x, mask=mask, bias=bias)[:3]:
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_a_fully_masked_row_gives_zero_attention_not_nan() -> None:
    """A query with no allowed key attends to nothing: probabilities 0, the layer returns `proj.bias`."""
    mask = _window_mask(LENGTH, 3)
    mask[2] = False  # query 2 may attend to no key
    x = torch.randn(BATCH, LENGTH, DIM, generator=torch.Generator().manual_seed(6))
    attn = _attention()
    fused, explicit, per_head, weights = _all_paths(attn, x, mask=mask)
    for out in (fused, explicit, per_head):
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out[:, 2], attn.proj.bias.expand(BATCH, DIM), rtol=0, atol=1e-6)
        torch.testing.assert_close(out, explicit, rtol=0, atol=1e-5)
    assert (weights[:, 2] == 0).all()
    torch.testing.assert_close(weights[:, 3].sum(-1), torch.ones(BATCH))


def test_mask_must_be_boolean() -> None:
    with pytest.raises(TypeError, match="bool"):
        _attention()(torch.randn(1, LENGTH, DIM), mask=torch.ones(LENGTH, LENGTH))


class _Masked(nn.Module):
    def __init__(self, attn: Attention, mask: Tensor, bias: Tensor) -> None:
        super().__init__()
        self.attn = attn
        self.register_buffer("mask", mask)
        self.register_buffer("bias", bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        per_head, weights = self.attn(x, mask=self.mask, bias=self.bias, need_weights=True)
        assert weights is not None
        return self.attn(x, mask=self.mask, bias=self.bias)[0], per_head, weights


def test_masked_attention_exports_to_onnx_with_a_dynamic_batch(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    mask = _window_mask(LENGTH, 3)
    mask[0] = False  # a fully masked row must survive export too
    bias = torch.randn(HEADS, LENGTH, LENGTH, generator=torch.Generator().manual_seed(7))
    module = _Masked(_attention(), mask, bias).eval()
    path = tmp_path / "attn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            module, (torch.randn(2, LENGTH, DIM),), str(path), dynamo=False, opset_version=17,
            input_names=["x"], output_names=["out", "per_head", "weights"],
            dynamic_axes={n: {0: "batch"} for n in ("x", "out", "per_head", "weights")},
        )  # fmt: skip
    x = torch.randn(5, LENGTH, DIM)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})
    with torch.no_grad():
        expected = module(x)
    for g_, e in zip(got, expected, strict=True):
        assert np.isfinite(g_).all()
        np.testing.assert_allclose(g_, e.numpy(), rtol=0, atol=1e-5)
