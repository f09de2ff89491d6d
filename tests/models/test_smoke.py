"""Fast end-to-end smoke checks of the models API: build, forward, save, load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import models


def test_tiny_timesformer_forward_and_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = models.create_model("timesformer_tiny").eval()
    x = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        out = model(x, return_attention=True)
    assert out.logits.shape == (2, model.card.num_classes)
    assert out.temporal_attention is not None and out.temporal_attention.shape == (2, 4, 4)
    assert out.spatial_attention is not None and out.spatial_attention.shape == (2, 4, 4, 4)

    folder = models.save_pretrained(model, tmp_path / "ckpt")
    loaded = models.load_pretrained(folder)
    assert not loaded.training
    assert loaded.card == model.card
    assert loaded.config == model.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, out.logits, rtol=0, atol=1e-6)


def test_hyphenated_alias_and_unknown_name() -> None:
    assert models.create_model("timesformer-tiny").registry_name == "timesformer_tiny"
    with pytest.raises(KeyError, match="unknown model"):
        models.create_model("no_such_model")


def test_overrides_reach_config_and_card() -> None:
    model = models.create_model("timesformer_tiny", num_frames=8, labels=["a", "b"], mean=(0.5, 0.5, 0.5))
    assert model.config.num_frames == 8 and model.card.input.num_frames == 8
    assert model.card.labels == ("a", "b") and model.config.num_classes == 2
    assert model.card.input.mean == (0.5, 0.5, 0.5)
    with pytest.raises(TypeError, match="unknown overrides"):
        models.create_model("timesformer_tiny", colour="blue")


def test_wrong_input_shape_is_refused() -> None:
    model = models.create_model("timesformer_tiny")
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(1, 3, 3, 32, 32))
