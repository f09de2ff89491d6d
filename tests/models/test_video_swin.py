"""Video Swin: official and torchvision checkpoints load to the reference logits; maps land where attended.

The references (`tests/models/reference_swin.py`) are re-written from the published code — the official
repository's `mmaction/models/backbones/swin_transformer.py` and torchvision's
`torchvision/models/video/swin_transformer.py` @ 726102e0 — with their parameter names and shapes, since
neither mmaction nor torchvision is installable here. Each writes its checkpoint in its own layout with
random weights; `models.load_pretrained` must reproduce that code's logits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import models
from models.attention_maps import reduce_attention
from models.convert.common import CheckpointError
from models.swin import VideoSwin
from models.swin.maps import ShiftedWindowAttention, frame_temporal
from tests.models.reference_swin import OfficialRecognizer, TorchvisionSwin3d, official_to_torchvision

LABELS = ["archery", "bowling", "cycling", "diving", "juggling"]
#: (window, frames, size): 8×7×7 clamps every stage's T' (4 ≤ 8) and pads 16 → 21, 8 → 14 spatially, and
#: clamps the last stages spatially (the references' sliced index); 2×3×3 shifts on every axis and pads.
CASES = [((8, 7, 7), 8, 64), ((2, 3, 3), 8, 64)]
ARCH = {"embed_dim": 16, "depths": (2, 2, 2, 2), "num_heads": (2, 4, 8, 16)}


def _randomise(module: nn.Module, seed: int) -> None:
    """Every parameter random (LayerNorm around 1, bias tables ~0.5): nothing left at its init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * noise)
            elif "relative_position_bias_table" in name:
                p.copy_(0.5 * noise)
            else:
                p.copy_(0.2 * noise if p.dim() == 1 else noise * p.shape[-1] ** -0.5)


def _official(window: tuple[int, int, int], seed: int = 0) -> OfficialRecognizer:
    ref = OfficialRecognizer(num_classes=len(LABELS), patch_size=(2, 4, 4), window_size=window, **ARCH)  # type: ignore[arg-type]
    _randomise(ref, seed)
    return ref.eval()


def _torchvision_from(official: OfficialRecognizer, window: tuple[int, int, int]) -> TorchvisionSwin3d:
    ref = TorchvisionSwin3d(
        patch_size=[2, 4, 4],
        embed_dim=ARCH["embed_dim"],  # type: ignore[arg-type]
        depths=list(ARCH["depths"]),  # type: ignore[call-overload]
        num_heads=list(ARCH["num_heads"]),  # type: ignore[call-overload]
        window_size=list(window),
        num_classes=len(LABELS),
    )
    ref.load_state_dict(official_to_torchvision(official.state_dict()), strict=True)
    return ref.eval()


def _clip(frames: int, size: int, batch: int = 2) -> Tensor:
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(7))


def _logits(module: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return module(x.transpose(1, 2))  # the references take [B, C, T, H, W]


@pytest.mark.parametrize(("window", "frames", "size"), CASES)
def test_official_and_torchvision_checkpoints_load_to_the_reference_logits(
    tmp_path: Path, window: tuple[int, int, int], frames: int, size: int
) -> None:
    official = _official(window)
    torchvision = _torchvision_from(official, window)
    official_path, tv_path = tmp_path / "swin_official.pth", tmp_path / "swin3d_t.pth"
    torch.save({"meta": {"epoch": 30}, "state_dict": official.state_dict()}, official_path)
    torch.save(torchvision.state_dict(), tv_path)
    x = _clip(frames, size)
    expected_official, expected_tv = _logits(official, x), _logits(torchvision, x)
    torch.testing.assert_close(expected_tv, expected_official, rtol=0, atol=1e-5)  # the references agree

    loaded = [
        models.load_pretrained(p, labels=LABELS, num_frames=frames, image_size=size)
        for p in (official_path, tv_path)
    ]
    for model, expected in zip(loaded, (expected_official, expected_tv), strict=True):
        assert isinstance(model, VideoSwin) and model.config.window_size == window
        assert model.card.labels == tuple(LABELS) and model.card.attention == "shifted_windows"
        with torch.no_grad():
            out = model(x)
        assert (out.logits - expected).abs().max().item() < 1e-4
    a, b = (m.state_dict() for m in loaded)  # both layouts give the same model
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_without_index_buffers_and_a_wrong_window_size(tmp_path: Path) -> None:
    official = _official((8, 7, 7))
    stripped = {k: v for k, v in official.state_dict().items() if not k.endswith("relative_position_index")}
    path = tmp_path / "stripped.pth"
    torch.save({"state_dict": stripped}, path)
    model = models.load_pretrained(path, num_frames=8, image_size=64)  # the window from the table rows
    assert model.config.window_size == (8, 7, 7)
    with torch.no_grad():
        assert (model(_clip(8, 64)).logits - _logits(official, _clip(8, 64))).abs().max() < 1e-4

    full = tmp_path / "full.pth"
    torch.save({"state_dict": official.state_dict()}, full)
    with pytest.raises(CheckpointError, match="window_size"):  # same table size, other offsets
        models.load_pretrained(full, window_size=(7, 8, 7), num_frames=8, image_size=64)
    with pytest.raises(CheckpointError, match="relative_position_bias_table"):  # no index: the table size
        models.load_pretrained(path, window_size=(2, 7, 7), num_frames=8, image_size=64)


def test_published_configurations_match_torchvision_parameter_counts() -> None:
    expected = {
        "video_swin_t_k400": 28_158_070,
        "video_swin_s_k400": 49_816_678,
        "video_swin_b_k400": 88_048_984,
    }
    for name, count in expected.items():
        with torch.device("meta"):
            model = models.create_model(name)
        assert sum(p.numel() for p in model.parameters()) == count, name
        assert model.grid == (16, 7, 7) and model.config.embed_patch == (2, 4, 4)
        assert model.config.window_size == (8, 7, 7) and model.card.input.patch_size == 32
    with torch.device("meta"):
        base = models.create_model("video_swin_b_k400")
    assert base.token_grids() == {
        "attention": (16, 7, 7),
        "stage1": (16, 56, 56),
        "stage2": (16, 28, 28),
        "stage3": (16, 14, 14),
        "stage4": (16, 7, 7),
    }


def _prefer(block: nn.Module, target: Tensor, strength: float) -> None:
    """Make `block` attend to tokens equal to `target` (after norm1) and pass its input through unchanged.

    q = strength·norm(target) for every token (q weights 0, q bias), k = norm(x) (identity), so a key's
    logit is large exactly when it is the target token; the output projection and the MLP output are
    zero, so the block is the identity on the tokens and the next block sees the same ones.
    """
    attn, dim = block.attn, target.shape[-1]
    with torch.no_grad():
        attn.relative_position_bias_table.zero_()
        weight, bias = attn.qkv.weight, attn.qkv.bias
        weight.zero_()
        bias.zero_()
        bias[:dim] = strength * block.norm1(target)
        weight[dim : 2 * dim] = torch.eye(dim)
        weight[2 * dim :] = torch.eye(dim)
        for linear in (attn.proj, block.mlp.fc2):
            linear.weight.zero_()
            linear.bias.zero_()


def _marked_stage_input(model: VideoSwin) -> tuple[Tensor, Tensor]:
    """Tokens for the last stage: one `target` token at frame 2, row 3, column 1, the rest near `base`;
    every block of the stage made to attend to the target (`_prefer`)."""
    stage = model.layers[-1]
    grid, dim = stage.grid, 64
    g = torch.Generator().manual_seed(1)
    base, target = torch.randn(dim, generator=g), torch.randn(dim, generator=g)
    tokens = base + 0.01 * torch.randn(1, grid.tokens, dim, generator=g)
    tokens[0, 2 * grid.patches + 3 * grid.w + 1] = target
    for block in stage.blocks:
        _prefer(block, target, strength=30.0)
    return tokens, target


def test_maps_land_where_the_last_stage_attends() -> None:
    """The last stage (4×4×4, window 2×3×3: shifted on every axis and padded) is made to attend to one
    token (frame 2, row 3, column 1). Its frame maps follow the windows — regular ones pair frames
    {0,1}, {2,3}; shifted ones {1,2}, {3,0} (masked apart) — the spatial map of frame 2 peaks on the
    token, and the model's maps are these."""
    torch.manual_seed(0)
    model = models.create_model("video_swin_tiny", window_size=(2, 3, 3)).eval()
    stage = model.layers[-1]
    assert stage.grid == (4, 4, 4)
    tokens, _ = _marked_stage_input(model)
    with torch.no_grad():
        _, attention = stage(tokens, attention_blocks=2)
    assert attention is not None and attention.shifts == ((0, 0, 0), (1, 1, 1))
    regular, shifted = (
        frame_temporal(p, stage.grid, w, s)[0]
        for p, w, s in zip(attention.probs, attention.windows, attention.shifts, strict=True)
    )
    assert regular[3, 2] > 0.15 and regular[1, 2] < 1e-6 and regular[0, 2] < 1e-6
    assert shifted[1, 2] > 0.5 and shifted[2, 2] > 0.5 and shifted[3, 2] < 1e-6 and shifted[0, 2] < 1e-6

    maps = reduce_attention(attention)
    step = [0.5 * f + 0.5 * torch.eye(4) for f in (regular, shifted)]
    torch.testing.assert_close(maps.temporal[0], step[1] @ step[0])
    # the rollout's two hops: frame 1 reaches frame 3 through frame 2; frame 0 never leaves {0, 1}
    assert regular[1, 3] < 1e-6 and shifted[1, 3] < 1e-6 and maps.temporal[0, 1, 3] > 0.01
    assert maps.temporal[0, 0, 2:].sum() < 1e-6
    spatial = maps.spatial[0]
    assert divmod(int(spatial[2].argmax()), 4) == (3, 1)
    assert spatial[2, 3, 1] > 2 * spatial[2].flatten().sort().values[-2]

    hook = stage.register_forward_pre_hook(lambda _m, _args, kwargs: ((tokens,), kwargs), with_kwargs=True)
    try:
        with torch.no_grad():
            out = model(_clip(8, 64, batch=1), return_attention=True)
    finally:
        hook.remove()
    torch.testing.assert_close(out.temporal_attention, maps.temporal)
    torch.testing.assert_close(out.spatial_attention, maps.spatial)


def test_maps_are_read_from_the_last_stage_pair() -> None:
    model = models.create_model("video_swin_tiny").eval()
    stage = model.layers[-1]
    with torch.no_grad():
        _, attention = stage(torch.randn(2, stage.grid.tokens, 64), attention_blocks=2)
    assert isinstance(attention, ShiftedWindowAttention) and len(attention.probs) == 2
    assert attention.windows == ((2, 4, 4), (2, 4, 4)) and attention.shifts == ((0, 0, 0), (1, 0, 0))
    assert attention.probs[0].shape == (2 * 2, 32, 32)  # two temporal windows of 2 × 4 × 4 per clip
