"""What every converter shares: the result type, errors, safe reading, key renaming, HF folder facts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypedDict

import torch
from safetensors.torch import load_file
from torch import Tensor

from models.base import VideoConfig, VideoModel
from models.card import ModelCard
from models.layers import GeluApprox


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, is of an unknown kind, or does not fit the model."""


@dataclass(frozen=True, kw_only=True)
class Converted:
    """A checkpoint in our terms: the class and config it was made for, its card, our state dict."""

    model_cls: type[VideoModel]
    config: VideoConfig
    card: ModelCard
    state_dict: dict[str, Tensor]


Rules = Sequence[tuple[str, str]]


def rename_keys(
    state_dict: dict[str, Tensor], rules: Rules, *, drop: Iterable[str] = ()
) -> dict[str, Tensor]:
    """Rename by the first rule whose pattern `re.fullmatch`es the key; keys matching `drop` are removed.

    Keys no rule matches are kept as they are, so a strict load reports them as unexpected.
    """
    dropped = [re.compile(p) for p in drop]
    compiled = [(re.compile(p), r) for p, r in rules]
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if any(p.fullmatch(key) for p in dropped):
            continue
        new = key
        for pattern, repl in compiled:
            match = pattern.fullmatch(key)
            if match:
                new = match.expand(repl)
                break
        if new in out:
            raise CheckpointError(f"two checkpoint keys map to {new!r} (second: {key!r})")
        out[new] = value
    return out


def merge_qkv(state_dict: dict[str, Tensor], *, bias_zero_k: bool = False) -> dict[str, Tensor]:
    """Fuse `<prefix>.q/.k/.v.{weight,bias}` into `<prefix>.qkv.{weight,bias}` (q, k, v stacked on dim 0).

    A missing k bias with q and v biases present (VideoMAE) is kept as `q_bias`/`v_bias` instead.
    """
    sd = dict(state_dict)
    prefixes = sorted({k[: -len(".q.weight")] for k in sd if k.endswith(".q.weight")})
    for prefix in prefixes:
        parts = [f"{prefix}.{n}.weight" for n in ("q", "k", "v")]
        if not all(p in sd for p in parts):
            continue  # left for the strict load to report
        sd[f"{prefix}.qkv.weight"] = torch.cat([sd.pop(p) for p in parts], dim=0)
        biases = [f"{prefix}.{n}.bias" for n in ("q", "k", "v")]
        present = [b in sd for b in biases]
        if all(present):
            sd[f"{prefix}.qkv.bias"] = torch.cat([sd.pop(b) for b in biases], dim=0)
        elif present == [True, False, True] and bias_zero_k:
            sd[f"{prefix}.q_bias"] = sd.pop(biases[0])
            sd[f"{prefix}.v_bias"] = sd.pop(biases[2])
    return sd


Names = Sequence[tuple[str, str]]

#: Hugging Face ViT layer parts (TimeSformer, ViViT 4.x, VideoMAE) → ours, below `blocks.<i>.`.
HF_VIT_LAYER: Names = (
    ("attention.output.dense", "attn.proj"),
    ("intermediate.dense", "mlp.fc1"),
    ("output.dense", "mlp.fc2"),
    ("layernorm_before", "norm1"),
    ("layernorm_after", "norm2"),
)
#: Separate q, k, v projections then the rest (ViViT 4.x, VideoMAE); `merge_qkv` fuses q, k, v later.
HF_VIT_LAYER_SPLIT_QKV: Names = (
    ("attention.attention.query", "attn.q"),
    ("attention.attention.key", "attn.k"),
    ("attention.attention.value", "attn.v"),
    *HF_VIT_LAYER,
)
#: Embedding tensors of HF video classifiers with a cls token (TimeSformer, ViViT) → ours.
HF_CLS_EMBEDDINGS: Names = (("cls_token", "cls_token"), ("position_embeddings", "pos_embed"))


def hf_rules(
    model_type: str, *, embeddings: Names = (), layers: dict[str, Names], modules: Names, extra: Rules = ()
) -> Rules:
    r"""The renaming rules of a HF video classifier, `extra` first.

    `<model_type>.embeddings.patch_embeddings.projection.*` → `patch_embed.proj.*` and each other
    `<model_type>.embeddings.<name>` of `embeddings` → ours; for each layer regex of `layers` (ending in
    `.`, its first group the layer index, e.g. `r"vivit\.layers\.(\d+)\."`) each `(part, ours)`:
    `<layer><part>.{weight,bias}` → `blocks.<i>.<ours>.{weight,bias}`; top-level `modules`
    (`.weight`/`.bias`, e.g. the final norm) → ours; `classifier` → `head`. Parts are literal names.
    """
    emb = re.escape(f"{model_type}.embeddings.")
    rules: list[tuple[str, str]] = [
        *extra,
        (emb + r"patch_embeddings\.projection\.(weight|bias)", r"patch_embed.proj.\1"),
    ]
    rules += [(emb + re.escape(name), ours) for name, ours in embeddings]
    for layer, names in layers.items():
        rules += [
            (layer + re.escape(part) + r"\.(weight|bias)", rf"blocks.\1.{ours}.\2") for part, ours in names
        ]
    rules += [
        (re.escape(name) + r"\.(weight|bias)", rf"{ours}.\1")
        for name, ours in (*modules, ("classifier", "head"))
    ]
    return rules


def torch_load_safely(path: Path, *, allow_unsafe_pickle: bool = False) -> Any:
    """`torch.load(weights_only=True)`; arbitrary pickles only when the caller trusts the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses: UnpicklingError / RuntimeError, version-dependent
        if not allow_unsafe_pickle:
            raise CheckpointError(
                f"{path} holds Python objects beyond tensors and plain containers, so it was not unpickled "
                f"(torch.load weights_only=True: {type(exc).__name__}). If you trust the file, pass "
                "allow_unsafe_pickle=True."
            ) from exc
    return torch.load(path, map_location="cpu", weights_only=False)


def read_hf_weights(folder: Path, *, allow_unsafe_pickle: bool = False) -> dict[str, Tensor]:
    """`model.safetensors` (or its sharded index) or `pytorch_model.bin` from a HF model folder."""
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.is_file():
        return dict(load_file(single))
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        sd: dict[str, Tensor] = {}
        for shard in shards:
            sd.update(load_file(folder / shard))
        return sd
    binary = folder / "pytorch_model.bin"
    if binary.is_file():
        loaded = torch_load_safely(binary, allow_unsafe_pickle=allow_unsafe_pickle)
        if not isinstance(loaded, dict):
            raise CheckpointError(f"{binary} is not a state dict")
        return {k: v for k, v in loaded.items() if isinstance(v, Tensor)}
    raise CheckpointError(f"{folder} has a config.json but no model.safetensors or pytorch_model.bin")


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return data


def hf_labels(hf_config: dict[str, Any], num_classes: int) -> tuple[str, ...]:
    """Labels from `id2label` (ordered by id), else `class_{i}`."""
    id2label = hf_config.get("id2label") or {}
    labels = {int(k): str(v) for k, v in id2label.items()}
    if sorted(labels) == list(range(num_classes)):
        return tuple(labels[i] for i in range(num_classes))
    return tuple(f"class_{i}" for i in range(num_classes))


def hf_num_classes(hf_config: dict[str, Any]) -> int:
    if hf_config.get("id2label"):
        return len(hf_config["id2label"])
    return int(hf_config.get("num_labels", 2))


def square(value: Any, what: str) -> int:
    """An int, or a 2-sequence of equal ints (HF allows `[h, w]`); non-square inputs are not supported."""
    if isinstance(value, list | tuple):
        if len(set(value)) != 1:
            raise CheckpointError(f"non-square {what} {value} is not supported")
        return int(value[0])
    return int(value)


#: HF `hidden_act` names → our GELU: exact (`gelu`, `gelu_python`: erf) or tanh-approximate.
HF_GELU: dict[str, GeluApprox] = {
    "gelu": "none",
    "gelu_python": "none",
    "gelu_fast": "tanh",
    "gelu_new": "tanh",
    "gelu_pytorch_tanh": "tanh",
    "gelu_python_tanh": "tanh",
}


def hf_gelu(hf_config: dict[str, Any]) -> GeluApprox:
    act = hf_config.get("hidden_act", "gelu")
    if act not in HF_GELU:
        raise CheckpointError(f"unsupported hidden_act {act!r} (supported: {', '.join(HF_GELU)})")
    return HF_GELU[act]


class VitFields(TypedDict):
    """The config fields every HF video ViT stores under the same names."""

    image_size: int
    in_chans: int
    num_classes: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    gelu: GeluApprox
    norm_eps: float


def hf_vit_fields(
    hf: dict[str, Any], *, norm_eps: float, image_size: int = 224, depth_key: str = "num_hidden_layers"
) -> VitFields:
    """Width, depth, heads, MLP, GELU, LayerNorm eps, channels, image size and classes of a HF config.

    Defaults are ViT-Base's; `norm_eps` and `image_size` are the family's defaults, `depth_key` the name
    its config gives the number of layers (VideoPrism: `num_spatial_layers`).
    """
    return VitFields(
        image_size=square(hf.get("image_size", image_size), "image_size"),
        in_chans=int(hf.get("num_channels", 3)),
        num_classes=hf_num_classes(hf),
        embed_dim=int(hf.get("hidden_size", 768)),
        depth=int(hf.get(depth_key, 12)),
        num_heads=int(hf.get("num_attention_heads", 12)),
        mlp_dim=int(hf.get("intermediate_size", 3072)),
        gelu=hf_gelu(hf),
        norm_eps=float(hf.get("layer_norm_eps", norm_eps)),
    )


@dataclass(frozen=True, kw_only=True)
class Preprocessing:
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    short_side: int | None = None


def hf_preprocessing(folder: Path) -> Preprocessing:
    """Mean/std and the resize short side from `preprocessor_config.json` (or the video processor's)."""
    for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
        path = folder / name
        if path.is_file():
            data = read_json(path)
            break
    else:
        return Preprocessing()
    mean, std = data.get("image_mean"), data.get("image_std")
    size = data.get("size")
    short = size.get("shortest_edge") if isinstance(size, dict) else None
    return Preprocessing(
        mean=tuple(float(v) for v in mean) if isinstance(mean, list) and len(mean) == 3 else None,  # type: ignore[arg-type]
        std=tuple(float(v) for v in std) if isinstance(std, list) and len(std) == 3 else None,  # type: ignore[arg-type]
        short_side=int(short) if short else None,
    )


Norm = tuple[tuple[float, float, float], tuple[float, float, float]]


def hf_converted(
    model_cls: type[VideoModel],
    config: VideoConfig,
    hf: dict[str, Any],
    state_dict: dict[str, Tensor],
    pre: Preprocessing,
    *,
    name: str,
    source: str,
    default_norm: Norm | None,
) -> Converted:
    """A converted HF checkpoint: the family's default card with HF's labels and preprocessing.

    `default_norm` is the (mean, std) used when the folder has no preprocessor config; None keeps the
    card's own mean/std whatever the folder says (ViViT: scenic's [-1, 1], see model-references.md).
    `state_dict` must already be in our key names.
    """
    card = model_cls.default_card(config, name=name, labels=hf_labels(hf, config.num_classes))
    if default_norm is not None:
        card = card.with_input(mean=pre.mean or default_norm[0], std=pre.std or default_norm[1])
    card = replace(card.with_input(resize_short_side=pre.short_side), source=source)
    return Converted(model_cls=model_cls, config=config, card=card, state_dict=state_dict)


@dataclass(frozen=True, kw_only=True)
class HFFormat:
    """One Hugging Face architecture: model class, config reader, key renaming, fallback mean/std.

    `checkpoint_filter_fn` is the format's pure key converter: `rules`/`drop` rename (`rename_keys`),
    then, with `fuse_qkv`, separate q/k/v projections are fused (`merge_qkv`; `zero_k_bias`: learned q and
    v biases without a k bias stay `q_bias`/`v_bias`). `default_norm` as in `hf_converted`.
    """

    model_cls: type[VideoModel]
    config_from_hf: Callable[[dict[str, Any]], VideoConfig]
    rules: Rules
    drop: Sequence[str] = ()
    fuse_qkv: bool = False
    zero_k_bias: bool = False
    default_norm: Norm | None

    def checkpoint_filter_fn(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """A HF state dict (any naming the rules know) → ours; nothing resampled, no model needed."""
        renamed = rename_keys(state_dict, self.rules, drop=self.drop)
        return merge_qkv(renamed, bias_zero_k=self.zero_k_bias) if self.fuse_qkv else renamed

    def convert(
        self, hf: dict[str, Any], state_dict: dict[str, Tensor], pre: Preprocessing, *, name: str, source: str
    ) -> Converted:
        """A HF folder's config, weights and preprocessing → `Converted` (our keys, card, config)."""
        return hf_converted(
            self.model_cls,
            self.config_from_hf(hf),
            hf,
            self.checkpoint_filter_fn(state_dict),
            pre,
            name=name,
            source=source,
            default_norm=self.default_norm,
        )


def load_state_dict_strict(model: VideoModel, state_dict: dict[str, Tensor]) -> None:
    """`load_state_dict(strict=True)` that first names every missing, unexpected and misshapen key."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshapen = sorted(
        f"{k} {list(state_dict[k].shape)} vs model {list(expected[k].shape)}"
        for k in set(state_dict) & set(expected)
        if state_dict[k].shape != expected[k].shape
    )
    problems = []
    for label, keys in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", misshapen),
    ):
        if keys:
            shown = ", ".join(keys[:20]) + (f", … ({len(keys) - 20} more)" if len(keys) > 20 else "")
            problems.append(f"{label} ({len(keys)}): {shown}")
    if problems:
        raise CheckpointError(f"checkpoint does not fit {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(state_dict, strict=True)
