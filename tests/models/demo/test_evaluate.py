"""The evaluation: issue 9's measures computed right, on every test set, cached where they are costly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import models
from models.checkpoint import WEIGHTS_DIR
from models.demo import generator
from models.demo.evaluate import evaluate_saved, h264_v2_set, renderer_b_set
from models.demo.measures import ROTATION, by_difficulty, classification, logits
from models.demo.motion import PARTNER

SHIPPED = "motion-vivit"


def _shipped() -> models.VideoModel:
    if not (WEIGHTS_DIR / SHIPPED / "model.safetensors").is_file():
        pytest.skip(f"{SHIPPED} has not been trained yet")
    return models.load_pretrained(SHIPPED)


def test_classification_measures_match_their_definitions() -> None:
    model = _shipped()
    contract = model.card.input
    clips, labels = generator.make_test_set(66, 5, num_frames=contract.num_frames, size=contract.image_size)
    res = classification(model, clips, labels, contract, first=22)
    pred = logits(model, clips, contract).argmax(1)
    assert res["clips"] == 66 and res["accuracy"] == round(float((pred == labels).mean()), 4)
    paired = labels != 0
    rev = logits(model, np.ascontiguousarray(clips[paired][:, ::-1]), contract).argmax(1)
    partner = np.asarray(PARTNER)[labels[paired]]
    assert res["reversal_to_partner"] == round(float((rev == partner).mean()), 4)
    right_pair = (pred[paired] == labels[paired]) | (pred[paired] == partner)
    assert res["pair_accuracy"] == round(float(right_pair.mean()), 4)
    assert res["within_pair_accuracy"] == round(float((pred[paired] == labels[paired])[right_pair].mean()), 4)
    cw = labels == ROTATION[0]
    assert res["rotation"]["clockwise"] == round(float((pred[cw] == ROTATION[0]).mean()), 4)
    assert res["first_22"]["accuracy"] == round(float((pred[:22] == labels[:22]).mean()), 4)
    assert res["per_class"]["static"] == round(float((pred[labels == 0] == 0).mean()), 3)


def test_accuracy_by_difficulty_per_fifth() -> None:
    labels = np.array([0, 5, 5, 6, 1, 2])
    pred = np.array([0, 5, 6, 6, 2, 2])
    bands = by_difficulty(pred, labels, np.array([0.0, 0.1, 0.5, 0.55, 0.99, 1.0]))
    assert list(bands) == ["0-20%", "20-40%", "40-60%", "60-80%", "80-100%"]
    assert bands["0-20%"] == {"clips": 2, "accuracy": 1.0, "rotation": 1.0}
    assert bands["40-60%"] == {"clips": 2, "accuracy": 0.5, "rotation": 0.5}
    assert bands["80-100%"] == {"clips": 2, "accuracy": 0.5, "rotation": bands["80-100%"]["rotation"]}
    assert np.isnan(bands["80-100%"]["rotation"]) and bands["20-40%"]["clips"] == 0


def test_renderer_b_set_is_balanced_and_cached(tmp_path: Path) -> None:
    contract = models.create_model("motion-timesformer").card.input
    clips, labels = renderer_b_set(11, contract, seed=3, cache_dir=tmp_path)
    assert clips.shape == (11, 8, 32, 32, 3) and labels.tolist() == list(range(11))
    cached = list(tmp_path.glob("renderer-b*.npz"))
    assert len(cached) == 1
    again, _ = renderer_b_set(11, contract, seed=3, cache_dir=tmp_path)
    assert np.array_equal(clips, again)


def test_h264_v2_set_goes_through_the_pool(tmp_path: Path) -> None:
    contract = models.create_model("motion-timesformer").card.input
    clips, labels, crf = h264_v2_set(4, contract, cache_dir=tmp_path)
    assert clips.shape == (4, 8, 32, 32, 3) and labels.tolist() == [0, 1, 2, 3]
    assert ((crf >= 18) & (crf <= 43)).all()
    assert list((tmp_path / "motion-h264").iterdir())


@pytest.mark.slow
def test_evaluate_saved_writes_every_measure(tmp_path: Path) -> None:
    _shipped()
    folder = tmp_path / SHIPPED
    shutil.copytree(WEIGHTS_DIR / SHIPPED, folder)
    results = evaluate_saved(folder, quick=True, cache_dir=tmp_path / "cache", write=True)
    expected = {"test_v2", "renderer_b", "encoded_v2", "test", "encoded", "attention", "latency"}
    assert set(results) == expected
    for name in ("test_v2", "renderer_b", "encoded_v2", "test"):
        assert {"accuracy", "reversal_to_partner", "within_pair_accuracy", "rotation"} <= set(results[name])
    bands = results["test_v2"]["by_difficulty"]
    assert sum(b["clips"] for b in bands.values()) == 220
    card = json.loads((folder / "card.json").read_text())
    assert set(card["extra"]["results"]) == expected
    unchanged = evaluate_saved(folder, quick=True, cache_dir=tmp_path / "cache", write=False)
    assert unchanged["renderer_b"]["accuracy"] == results["renderer_b"]["accuracy"]
