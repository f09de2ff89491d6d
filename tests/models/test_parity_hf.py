"""Our models load Hugging Face checkpoints and give transformers' logits (float32, within 1e-4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import models
from tests.models import hf_reference as ref

ATOL = 1e-4


def _inputs(model: Any, batch: int, seed: int) -> torch.Tensor:
    c = model.config
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, c.num_frames, 3, c.image_size, c.image_size, generator=g)


def _assert_parity(ours: Any, expected_fn: Any) -> None:
    for batch in (1, 3):
        x = _inputs(ours, batch, seed=batch)
        with torch.no_grad():
            got = ours(x).logits
        expected = expected_fn(x)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("attention", ["divided_space_time", "joint_space_time"])
def test_timesformer(tmp_path: Path, attention: str) -> None:
    hf = ref.timesformer(attention)
    ours = models.load_pretrained(ref.save_legacy(hf, tmp_path / "hf"))
    assert isinstance(ours, models.TimeSformer) and ours.config.attention == attention
    assert ours.card.labels == tuple(ref.LABELS)
    assert (ours.card.input.num_frames, ours.card.input.image_size, ours.card.input.patch_size) == (4, 32, 8)
    assert ours.card.input.mean == (0.45, 0.45, 0.45) and ours.card.input.sampling == "stride"
    _assert_parity(ours, lambda x: ref.hf_logits(hf, x))


def test_timesformer_space_only_matches_frame_averaged_hf(tmp_path: Path) -> None:
    hf = ref.timesformer("space_only")
    ours = models.load_pretrained(ref.save_legacy(hf, tmp_path / "hf"))
    assert ours.config.space_only_pool == "logits"
    # HF returns per-frame logits [B·T, C]; the reference for a clip is their mean over frames
    _assert_parity(ours, lambda x: ref.hf_logits(hf, x).reshape(x.shape[0], x.shape[1], -1).mean(1))


def test_timesformer_space_only_official_pooling(tmp_path: Path) -> None:
    """The official model averages the frames' tokens *before* the final norm."""
    hf = ref.timesformer("space_only")
    ours = models.load_pretrained(ref.save_legacy(hf, tmp_path / "hf"), space_only_pool="tokens")

    @torch.no_grad()
    def official(x: torch.Tensor) -> torch.Tensor:
        hidden = hf.timesformer(pixel_values=x, output_hidden_states=True).hidden_states[-1]  # pre-norm
        cls = hidden[:, 0].reshape(x.shape[0], x.shape[1], -1).mean(1)
        return hf.classifier(hf.timesformer.layernorm(cls))

    _assert_parity(ours, official)


@pytest.mark.parametrize("naming", ["legacy", "current"])
def test_videomae(tmp_path: Path, naming: str) -> None:
    hf = ref.videomae()
    save = ref.save_legacy if naming == "legacy" else ref.save_current
    folder = save(hf, tmp_path / "hf")
    ref.write_preprocessor(folder, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 36)
    ours = models.load_pretrained(folder)
    assert isinstance(ours, models.VideoMAE)
    assert ours.card.input.std == (0.229, 0.224, 0.225) and ours.card.input.resize_short_side == 36
    assert ours.card.input.frame_stride == 4 and ours.card.input.tubelet_size == 2
    _assert_parity(ours, lambda x: ref.hf_logits(hf, x))


@pytest.mark.parametrize("naming", ["legacy", "current"])
def test_vivit(tmp_path: Path, naming: str) -> None:
    hf = ref.vivit()
    save = ref.save_legacy if naming == "legacy" else ref.save_current
    folder = save(hf, tmp_path / "hf")
    keys = set(__import__("safetensors.torch").torch.load_file(folder / "model.safetensors"))
    marker = "vivit.encoder.layer.0.attention.attention.query.weight"
    assert (marker in keys) == (naming == "legacy")  # the two namings really differ
    ref.write_preprocessor(folder, [0.5] * 3, [0.5] * 3, 36)  # hub preprocessor: gives [-3, 1]; ignored
    ours = models.load_pretrained(folder)
    assert isinstance(ours, models.ViViT)
    assert ours.card.input.mean == (0.5, 0.5, 0.5) and ours.card.input.std == (
        0.5,
        0.5,
        0.5,
    )  # scenic's [-1, 1]
    assert ours.config.gelu == "tanh" and ours.card.input.frame_stride == 2
    _assert_parity(ours, lambda x: ref.hf_logits(hf, x))


def test_pytorch_model_bin(tmp_path: Path) -> None:
    hf = ref.timesformer()
    folder = tmp_path / "bin"
    hf.config.to_json_file(tmp_path / "config.json")
    folder.mkdir()
    (tmp_path / "config.json").rename(folder / "config.json")
    torch.save(hf.state_dict(), folder / "pytorch_model.bin")
    _assert_parity(models.load_pretrained(folder), lambda x: ref.hf_logits(hf, x))


# HF → official names, written out here independently of the converter (model-references.md)
_OFFICIAL = [
    ("timesformer.embeddings.cls_token", "cls_token"),
    ("timesformer.embeddings.position_embeddings", "pos_embed"),
    ("timesformer.embeddings.time_embeddings", "time_embed"),
    ("timesformer.embeddings.patch_embeddings.projection", "patch_embed.proj"),
    ("temporal_attention.attention.qkv", "temporal_attn.qkv"),
    ("temporal_attention.output.dense", "temporal_attn.proj"),
    ("attention.attention.qkv", "attn.qkv"),
    ("attention.output.dense", "attn.proj"),
    ("temporal_layernorm", "temporal_norm1"),
    ("temporal_dense", "temporal_fc"),
    ("layernorm_before", "norm1"),
    ("layernorm_after", "norm2"),
    ("intermediate.dense", "mlp.fc1"),
    ("output.dense", "mlp.fc2"),
    ("timesformer.layernorm", "norm"),
    ("classifier", "head"),
]


def _official_key(key: str) -> str:
    key = key.replace("timesformer.encoder.layer.", "blocks.")
    for old, new in _OFFICIAL:
        if old in key and not (old == "output.dense" and "attention.output.dense" in key):
            key = key.replace(old, new)
            break
    return "model." + key


def test_official_pyth(tmp_path: Path) -> None:
    hf = ref.timesformer()
    state = {_official_key(k): v for k, v in hf.state_dict().items()}
    assert "model.blocks.1.temporal_fc.weight" in state and "model.blocks.0.mlp.fc2.bias" in state
    path = tmp_path / "TimeSformer_divST_4x32_32.pyth"
    torch.save({"model_state": state, "epoch": 15, "cfg": "TRAIN:\n  ENABLE: true\n"}, path)
    ours = models.load_pretrained(path, num_heads=2, labels=ref.LABELS)
    assert ours.config.attention == "divided_space_time" and ours.config.num_frames == 4
    assert ours.card.labels == tuple(ref.LABELS) and ours.card.input.mean == (0.45, 0.45, 0.45)
    _assert_parity(ours, lambda x: ref.hf_logits(hf, x))
