"""Independent reference Video Swin Transformers, written for the tests from the published code.

Neither reference is installable here (no mmaction, no torchvision), so both are re-written from their
published sources, with their module structure — hence their parameter names and shapes — exactly as
published:

* `OfficialRecognizer`: SwinTransformer/Video-Swin-Transformer `mmaction/models/backbones/
  swin_transformer.py` (`SwinTransformer3D`, `BasicLayer`, `SwinTransformerBlock3D`, `WindowAttention3D`,
  `PatchMerging`, `PatchEmbed3D`, `compute_mask`, `get_window_size`) under a `Recognizer3D` whose
  `cls_head` is an `I3DHead` (`fc_cls`): keys `backbone.…` and `cls_head.fc_cls.…`.
* `TorchvisionSwin3d`: pytorch/vision `torchvision/models/video/swin_transformer.py` @ 726102e0
  (`SwinTransformer3d`, `ShiftedWindowAttention3d`, `shifted_window_attention_3d`, `PatchEmbed3d`) with
  the 2-D module's `SwinTransformerBlock` (MLP as `Sequential(Linear, GELU, Dropout, Linear, Dropout)`)
  and `PatchMerging`: keys `patch_embed.…`, `features.{2i}.{j}.…`, `features.{2i+1}.…`, `norm`, `head`.

They share nothing with `models/` and compute attention explicitly (softmax of `q·kᵀ·scale + bias`).
"""

from __future__ import annotations

from functools import reduce
from operator import mul

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Size3 = tuple[int, int, int]


# --- official ------------------------------------------------------------------------------------------
def window_partition(x: Tensor, window_size: Size3) -> Tensor:
    b, d, h, w, c = x.shape
    x = x.view(
        b,
        d // window_size[0],
        window_size[0],
        h // window_size[1],
        window_size[1],
        w // window_size[2],
        window_size[2],
        c,
    )
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).contiguous().view(-1, reduce(mul, window_size), c)


def window_reverse(windows: Tensor, window_size: Size3, b: int, d: int, h: int, w: int) -> Tensor:
    x = windows.view(
        b,
        d // window_size[0],
        h // window_size[1],
        w // window_size[2],
        window_size[0],
        window_size[1],
        window_size[2],
        -1,
    )
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).contiguous().view(b, d, h, w, -1)


def get_window_size(x_size: Size3, window_size: Size3, shift_size: Size3) -> tuple[Size3, Size3]:
    use_window, use_shift = list(window_size), list(shift_size)
    for i in range(3):
        if x_size[i] <= window_size[i]:
            use_window[i] = x_size[i]
            use_shift[i] = 0
    return (use_window[0], use_window[1], use_window[2]), (use_shift[0], use_shift[1], use_shift[2])


def relative_index(window_size: Size3) -> Tensor:
    coords = torch.stack(torch.meshgrid(*(torch.arange(s) for s in window_size), indexing="ij"))
    flat = torch.flatten(coords, 1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += window_size[0] - 1
    rel[:, :, 1] += window_size[1] - 1
    rel[:, :, 2] += window_size[2] - 1
    rel[:, :, 0] *= (2 * window_size[1] - 1) * (2 * window_size[2] - 1)
    rel[:, :, 1] *= 2 * window_size[2] - 1
    return rel.sum(-1)


class WindowAttention3D(nn.Module):
    def __init__(self, dim: int, window_size: Size3, num_heads: int) -> None:
        super().__init__()
        self.window_size, self.num_heads = window_size, num_heads
        self.scale = (dim // num_heads) ** -0.5
        rows = (2 * window_size[0] - 1) * (2 * window_size[1] - 1) * (2 * window_size[2] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(rows, num_heads))
        self.register_buffer("relative_position_index", relative_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        b_, n, c = x.shape
        qkv = self.qkv(x).reshape(b_, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        index = self.relative_position_index[:n, :n].reshape(-1)  # type: ignore[index]
        bias = self.relative_position_bias_table[index].reshape(n, n, -1).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b_ // nw, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b_, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinTransformerBlock3D(nn.Module):
    def __init__(
        self, dim: int, num_heads: int, window_size: Size3, shift_size: Size3, mlp_ratio: float
    ) -> None:
        super().__init__()
        self.window_size, self.shift_size = window_size, shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, window_size, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward_part1(self, x: Tensor, mask_matrix: Tensor) -> Tensor:
        b, d, h, w, c = x.shape
        window_size, shift_size = get_window_size((d, h, w), self.window_size, self.shift_size)
        x = self.norm1(x)
        pad_d1 = (window_size[0] - d % window_size[0]) % window_size[0]
        pad_b = (window_size[1] - h % window_size[1]) % window_size[1]
        pad_r = (window_size[2] - w % window_size[2]) % window_size[2]
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b, 0, pad_d1))
        _, dp, hp, wp, _ = x.shape
        shifted = any(i > 0 for i in shift_size)
        if shifted:
            x = torch.roll(x, shifts=(-shift_size[0], -shift_size[1], -shift_size[2]), dims=(1, 2, 3))
        windows = self.attn(window_partition(x, window_size), mask=mask_matrix if shifted else None)
        x = window_reverse(windows.view(-1, *window_size, c), window_size, b, dp, hp, wp)
        if shifted:
            x = torch.roll(x, shifts=shift_size, dims=(1, 2, 3))
        return x[:, :d, :h, :w, :].contiguous()

    def forward(self, x: Tensor, mask_matrix: Tensor) -> Tensor:
        x = x + self.forward_part1(x, mask_matrix)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-3], x.shape[-2]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x0, x1 = x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :]
        x2, x3 = x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]
        return self.reduction(self.norm(torch.cat([x0, x1, x2, x3], -1)))


def compute_mask(d: int, h: int, w: int, window_size: Size3, shift_size: Size3) -> Tensor:
    img_mask = torch.zeros((1, d, h, w, 1))
    cnt = 0
    for dd in (slice(-window_size[0]), slice(-window_size[0], -shift_size[0]), slice(-shift_size[0], None)):
        for hh in (
            slice(-window_size[1]),
            slice(-window_size[1], -shift_size[1]),
            slice(-shift_size[1], None),
        ):
            for ww in (
                slice(-window_size[2]),
                slice(-window_size[2], -shift_size[2]),
                slice(-shift_size[2], None),
            ):
                img_mask[:, dd, hh, ww, :] = cnt
                cnt += 1
    mask_windows = window_partition(img_mask, window_size).squeeze(-1)
    attn_mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
    return attn_mask.masked_fill(attn_mask != 0, -100.0).masked_fill(attn_mask == 0, 0.0)


class BasicLayer(nn.Module):
    def __init__(
        self, dim: int, depth: int, num_heads: int, window_size: Size3, mlp_ratio: float, downsample: bool
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.shift_size = (window_size[0] // 2, window_size[1] // 2, window_size[2] // 2)
        self.blocks = nn.ModuleList(
            SwinTransformerBlock3D(
                dim, num_heads, window_size, (0, 0, 0) if i % 2 == 0 else self.shift_size, mlp_ratio
            )
            for i in range(depth)
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: Tensor) -> Tensor:  # [B, C, D, H, W]
        b, _, d, h, w = x.shape
        window_size, shift_size = get_window_size((d, h, w), self.window_size, self.shift_size)
        x = x.permute(0, 2, 3, 4, 1)
        dp, hp, wp = (-(-s // ws) * ws for s, ws in zip((d, h, w), window_size, strict=True))
        attn_mask = compute_mask(dp, hp, wp, window_size, shift_size)
        for blk in self.blocks:
            x = blk(x, attn_mask)
        x = x.view(b, d, h, w, -1)
        if self.downsample is not None:
            x = self.downsample(x)
        return x.permute(0, 4, 1, 2, 3)


class PatchEmbed3D(nn.Module):
    def __init__(self, patch_size: Size3, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x)
        d, wh, ww = x.size(2), x.size(3), x.size(4)
        x = self.norm(x.flatten(2).transpose(1, 2))
        return x.transpose(1, 2).view(-1, self.embed_dim, d, wh, ww)


class SwinTransformer3D(nn.Module):
    def __init__(
        self,
        *,
        patch_size: Size3,
        embed_dim: int,
        depths: tuple[int, ...],
        num_heads: tuple[int, ...],
        window_size: Size3,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed3D(patch_size, 3, embed_dim)
        self.layers = nn.ModuleList(
            BasicLayer(embed_dim * 2**i, depths[i], num_heads[i], window_size, mlp_ratio, i < len(depths) - 1)
            for i in range(len(depths))
        )
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(self.num_features)

    def forward(self, x: Tensor) -> Tensor:  # [B, C, T, H, W]
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x.contiguous())
        x = self.norm(x.permute(0, 2, 3, 4, 1))
        return x.permute(0, 4, 1, 2, 3)


class I3DHead(nn.Module):
    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc_cls(self.avg_pool(x).view(x.shape[0], -1))


class OfficialRecognizer(nn.Module):
    """`Recognizer3D(backbone=SwinTransformer3D, cls_head=I3DHead)`; input `[B, 3, T, H, W]`."""

    def __init__(self, *, num_classes: int, **backbone: object) -> None:
        super().__init__()
        self.backbone = SwinTransformer3D(**backbone)  # type: ignore[arg-type]
        self.cls_head = I3DHead(num_classes, self.backbone.num_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.cls_head(self.backbone(x))


# --- torchvision ---------------------------------------------------------------------------------------
def _tv_mask(size: Size3, window: Size3, shift: Size3) -> Tensor:
    attn_mask = torch.zeros(*size)
    num_windows = (size[0] // window[0]) * (size[1] // window[1]) * (size[2] // window[2])
    slices = [((0, -window[i]), (-window[i], -shift[i]), (-shift[i], None)) for i in range(3)]
    count = 0
    for d in slices[0]:
        for h in slices[1]:
            for w in slices[2]:
                attn_mask[d[0] : d[1], h[0] : h[1], w[0] : w[1]] = count
                count += 1
    attn_mask = attn_mask.view(
        size[0] // window[0], window[0], size[1] // window[1], window[1], size[2] // window[2], window[2]
    )
    attn_mask = attn_mask.permute(0, 2, 4, 1, 3, 5).reshape(num_windows, window[0] * window[1] * window[2])
    attn_mask = attn_mask.unsqueeze(1) - attn_mask.unsqueeze(2)
    return attn_mask.masked_fill(attn_mask != 0, -100.0).masked_fill(attn_mask == 0, 0.0)


class ShiftedWindowAttention3d(nn.Module):
    def __init__(self, dim: int, window_size: list[int], shift_size: list[int], num_heads: int) -> None:
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = window_size, shift_size, num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        rows = (2 * window_size[0] - 1) * (2 * window_size[1] - 1) * (2 * window_size[2] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(rows, num_heads))
        ws = (window_size[0], window_size[1], window_size[2])
        self.register_buffer("relative_position_index", relative_index(ws))

    def forward(self, x: Tensor) -> Tensor:  # [B, T, H, W, C]
        b, t, h, w, c = x.shape
        window, shift = self.window_size.copy(), self.shift_size.copy()
        for i, s in enumerate((t, h, w)):
            if s <= window[i]:
                window[i], shift[i] = s, 0
        vol = window[0] * window[1] * window[2]
        index = self.relative_position_index[:vol, :vol].flatten()  # type: ignore[index]
        rel_bias = self.relative_position_bias_table[index].view(vol, vol, -1).permute(2, 0, 1).unsqueeze(0)
        pad = [(window[i] - s % window[i]) % window[i] for i, s in enumerate((t, h, w))]
        x = F.pad(x, (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))
        _, tp, hp, wp, _ = x.shape
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(-shift[0], -shift[1], -shift[2]), dims=(1, 2, 3))
        nw = (tp // window[0]) * (hp // window[1]) * (wp // window[2])
        x = x.view(b, tp // window[0], window[0], hp // window[1], window[1], wp // window[2], window[2], c)
        x = x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(b * nw, vol, c)
        qkv = F.linear(x, self.qkv.weight, self.qkv.bias)
        qkv = qkv.reshape(x.size(0), x.size(1), 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (c // self.num_heads) ** -0.5, qkv[1], qkv[2]
        attn = q.matmul(k.transpose(-2, -1)) + rel_bias
        if sum(shift) > 0:
            mask = _tv_mask((tp, hp, wp), (window[0], window[1], window[2]), (shift[0], shift[1], shift[2]))
            attn = attn.view(x.size(0) // nw, nw, self.num_heads, x.size(1), x.size(1))
            attn = (attn + mask.unsqueeze(1).unsqueeze(0)).view(-1, self.num_heads, x.size(1), x.size(1))
        attn = F.softmax(attn, dim=-1)
        x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), c)
        x = F.linear(x, self.proj.weight, self.proj.bias)
        x = x.view(b, tp // window[0], hp // window[1], wp // window[2], window[0], window[1], window[2], c)
        x = x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, tp, hp, wp, c)
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(shift[0], shift[1], shift[2]), dims=(1, 2, 3))
        return x[:, :t, :h, :w, :].contiguous()


class SwinTransformerBlock(nn.Module):
    def __init__(
        self, dim: int, num_heads: int, window_size: list[int], shift_size: list[int], mlp_ratio: float
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = ShiftedWindowAttention3d(dim, window_size, shift_size, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0)
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed3d(nn.Module):
    def __init__(self, patch_size: list[int], embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(3, embed_dim, kernel_size=tuple(patch_size), stride=tuple(patch_size))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 4, 1))


class TorchvisionSwin3d(nn.Module):
    """`SwinTransformer3d`; input `[B, 3, T, H, W]`."""

    def __init__(
        self,
        *,
        patch_size: list[int],
        embed_dim: int,
        depths: list[int],
        num_heads: list[int],
        window_size: list[int],
        num_classes: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed3d(patch_size, embed_dim)
        layers: list[nn.Module] = []
        for i_stage, depth in enumerate(depths):
            dim = embed_dim * 2**i_stage
            layers.append(
                nn.Sequential(
                    *(
                        SwinTransformerBlock(
                            dim,
                            num_heads[i_stage],
                            window_size,
                            [0 if i_layer % 2 == 0 else w // 2 for w in window_size],
                            mlp_ratio,
                        )
                        for i_layer in range(depth)
                    )
                )
            )
            if i_stage < len(depths) - 1:
                layers.append(PatchMerging(dim))
        self.features = nn.Sequential(*layers)
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(self.num_features, eps=1e-5)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Linear(self.num_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.features(self.patch_embed(x)))
        return self.head(torch.flatten(self.avgpool(x.permute(0, 4, 1, 2, 3)), 1))


def official_to_torchvision(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """The published correspondence: `backbone.layers.i.blocks.j` → `features.{2i}.j`, `downsample` →
    `features.{2i+1}`, `mlp.fc1/fc2` → `mlp.0/mlp.3`, `cls_head.fc_cls` → `head`, `backbone.` dropped."""
    out = {}
    for key, value in state_dict.items():
        new = key.removeprefix("backbone.").replace("cls_head.fc_cls.", "head.")
        parts = new.split(".")
        if parts[0] == "layers":
            stage = int(parts[1])
            if parts[2] == "blocks":
                rest = ".".join(parts[4:]).replace("mlp.fc1.", "mlp.0.").replace("mlp.fc2.", "mlp.3.")
                new = f"features.{2 * stage}.{parts[3]}.{rest}"
            else:  # downsample
                new = f"features.{2 * stage + 1}." + ".".join(parts[3:])
        out[new] = value
    return out
