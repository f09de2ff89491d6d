"""Checkpoint loading refuses what it cannot load faithfully, and says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import models
from models import CheckpointError
from tests.models import hf_reference as ref


class NotATensor:
    """A pickled object `torch.load(weights_only=True)` must refuse."""

    def __init__(self) -> None:
        self.payload = "anything"


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ref.save_legacy(ref.timesformer(), tmp_path_factory.mktemp("hf") / "timesformer")


def test_missing_key_is_named(hf_folder: Path, tmp_path: Path) -> None:
    def drop(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        del sd["timesformer.encoder.layer.1.temporal_dense.weight"]
        return sd

    broken = ref.rewrite_weights(hf_folder, tmp_path / "broken", drop)
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): blocks\.1\.temporal_fc\.weight"):
        models.load_pretrained(broken)


def test_unexpected_key_is_named(hf_folder: Path, tmp_path: Path) -> None:
    def add(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        sd["timesformer.encoder.layer.0.mystery.weight"] = torch.zeros(3)
        return sd

    broken = ref.rewrite_weights(hf_folder, tmp_path / "broken", add)
    with pytest.raises(
        CheckpointError, match=r"unexpected keys \(1\): timesformer\.encoder\.layer\.0\.mystery"
    ):
        models.load_pretrained(broken)


def test_shape_mismatch_is_named(hf_folder: Path, tmp_path: Path) -> None:
    def grow(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        sd["classifier.weight"] = torch.zeros(7, 32)
        sd["classifier.bias"] = torch.zeros(7)
        return sd

    broken = ref.rewrite_weights(hf_folder, tmp_path / "broken", grow)
    with pytest.raises(CheckpointError, match=r"shape mismatches \(2\): head\.bias \[7\] vs model \[5\]"):
        models.load_pretrained(broken)


def test_unknown_sources(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no shipped model"):
        models.load_pretrained(tmp_path / "nothing_here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"without config\.json"):
        models.load_pretrained(tmp_path / "empty")
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    torch.save({"bert.embeddings.word_embeddings.weight": torch.zeros(2, 2)}, bert / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="unsupported Hugging Face model_type 'bert'"):
        models.load_pretrained(bert)
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, other)
    with pytest.raises(CheckpointError, match="not an official TimeSformer checkpoint"):
        models.load_pretrained(other)


def test_pickles_are_not_trusted_by_default(tmp_path: Path) -> None:
    path = tmp_path / "evil.pyth"
    torch.save({"model_state": {}, "extra": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="allow_unsafe_pickle=True"):
        models.load_pretrained(path)


def test_own_format_roundtrip_every_tiny_model(tmp_path: Path) -> None:
    for name in (
        "timesformer_tiny_joint",
        "timesformer_tiny_space_only",
        "vivit_tiny",
        "vivit_fe_tiny",
        "videomae_tiny",
    ):
        model = models.create_model(name).eval()
        folder = models.save_pretrained(model, tmp_path / name)
        meta = json.loads((folder / "config.json").read_text())
        assert meta["format"] == "vtserve" and meta["model"] == name and meta["card"]["name"] == name
        loaded = models.load_pretrained(folder)
        assert type(loaded) is type(model) and loaded.config == model.config and loaded.card == model.card
        x = torch.randn(2, 4, 3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x).logits, model(x).logits, rtol=0, atol=0)


def test_shipped_names_resolve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from models import checkpoint

    model = models.create_model("timesformer_tiny")
    models.save_pretrained(model, tmp_path / "my_model")
    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", tmp_path)
    assert models.shipped_path("my-model") == tmp_path / "my_model"
    assert models.shipped_path("absent") is None
    assert models.load_pretrained("my-model").card == model.card


def test_labels_must_fit_the_head(hf_folder: Path) -> None:
    with pytest.raises(CheckpointError, match="3 labels given for a head of 5 classes"):
        models.load_pretrained(hf_folder, labels=["a", "b", "c"])
