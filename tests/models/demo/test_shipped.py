"""The shipped `motion` checkpoints: loadable by name, cards as the service needs, and really trained.

Accuracy is checked on 220 clips of the fixed test sets (20 per class; seed `TEST_SEED`, never used in
training) and on their reversals. Issue 9's bar (0.97 top-1, 0.95 reversal → partner) on its own
renderer's set; issue 14's bars: the same on the v2 generator's set (in distribution), and 0.93 top-1
on the independent renderer B (its first 55 clips here, 440 in the card). A bar not met yet is a strict
xfail, decided by the numbers the card records on the same clips, so a better checkpoint turns it red.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import models
from models.checkpoint import WEIGHTS_DIR
from models.demo import generator
from models.demo.data import to_tensor
from models.demo.evaluate import B_FIRST, TEST_SEED, renderer_b_set
from models.demo.measures import classification
from models.demo.motion import LABELS, PARTNER, make_test_set

SHIPPED = ("motion-timesformer", "motion-vivit")


def _present(name: str) -> bool:
    return (WEIGHTS_DIR / name / "model.safetensors").is_file()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_card(name: str) -> None:
    if not _present(name):
        pytest.skip(f"{name} has not been trained yet")
    model = models.load_pretrained(name)
    card = model.card
    assert card.labels == LABELS
    assert card.input.sampling == "uniform" and card.input.resize == "short_side_center_crop"
    assert card.input.num_frames == 8
    training = card.extra["training"]
    assert training["seed"] == 0 and training["steps"] > 0
    on_disk = json.loads((WEIGHTS_DIR / name / "card.json").read_text())
    assert on_disk["labels"] == list(LABELS) and on_disk["input"]["mean"] == list(card.input.mean)


def test_shipped_weights_are_small() -> None:
    files = [WEIGHTS_DIR / n / "model.safetensors" for n in SHIPPED if _present(n)]
    if not files:
        pytest.skip("no shipped checkpoints yet")
    assert sum(f.stat().st_size for f in files) <= 15 * 1024 * 1024


def _measure(name: str) -> tuple[float, float, dict[str, Any]]:
    model = models.load_pretrained(name)
    card = model.card
    clips, labels = make_test_set(
        220, TEST_SEED, num_frames=card.input.num_frames, size=card.input.image_size
    )
    x = to_tensor(clips, card.input.mean, card.input.std)
    pred = model(x).logits.argmax(1).numpy()
    paired = labels != 0
    rev = model(x[paired].flip(1)).logits.argmax(1).numpy()
    accuracy = float((pred == labels).mean())
    reversal = float((rev == np.asarray(PARTNER)[labels[paired]]).mean())
    return accuracy, reversal, card.extra.get("results", {})


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_matches_its_card(name: str) -> None:
    """The model really is trained, and its card's results are what it does (220 of the 2200 clips)."""
    if not _present(name):
        pytest.skip(f"{name} has not been trained yet")
    accuracy, reversal, results = _measure(name)
    assert accuracy > 3 / 11 and reversal > 3 / 11  # far above chance (1/11): trained, order-aware
    if "test" in results:
        assert abs(accuracy - results["test"]["accuracy"]) < 0.06
        assert abs(reversal - results["test"]["reversal_to_partner"]) < 0.08


def _bar_reached(name: str) -> bool:
    card = json.loads((WEIGHTS_DIR / name / "card.json").read_text()) if _present(name) else {}
    first = card.get("extra", {}).get("results", {}).get("test", {}).get("first_220", {})
    return first.get("accuracy", 0.0) >= 0.97 and first.get("reversal_to_partner", 0.0) >= 0.95


@pytest.mark.parametrize(
    "name",
    [
        n
        if _bar_reached(n)
        else pytest.param(
            n,
            marks=pytest.mark.xfail(
                strict=True, reason="issue 9 bar (0.97 / 0.95) not reached by this checkpoint; see its card"
            ),
        )
        for n in SHIPPED
    ],
)
def test_shipped_model_reaches_the_bar(name: str) -> None:
    """Issue 9: >= 0.97 top-1 and >= 0.95 reversal-to-partner. Strict xfail while a checkpoint falls short
    (its card records these numbers on the same 220 clips, `results.test.first_220`), so a better
    checkpoint turns this into a plain pass."""
    if not _present(name):
        pytest.skip(f"{name} has not been trained yet")
    accuracy, reversal, _ = _measure(name)
    assert accuracy >= 0.97, accuracy
    assert reversal >= 0.95, reversal


def _recorded(name: str, test_set: str, first: int) -> dict[str, float]:
    card = json.loads((WEIGHTS_DIR / name / "card.json").read_text()) if _present(name) else {}
    return card.get("extra", {}).get("results", {}).get(test_set, {}).get(f"first_{first}", {})


def _strict_unless(reached: bool, reason: str) -> list[pytest.MarkDecorator]:
    return [] if reached else [pytest.mark.xfail(strict=True, reason=reason)]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n,
            marks=_strict_unless(
                _recorded(n, "test_v2", 220).get("accuracy", 0.0) >= 0.97
                and _recorded(n, "test_v2", 220).get("reversal_to_partner", 0.0) >= 0.95,
                "issue 14 bar (0.97 / 0.95 on the v2 test set) not reached by this checkpoint; see its card",
            ),
        )
        for n in SHIPPED
    ],
)
def test_shipped_model_reaches_the_bar_in_distribution(name: str) -> None:
    """Issue 14: >= 0.97 top-1 and >= 0.95 reversal → partner on the v2 generator's test set."""
    if not _present(name):
        pytest.skip(f"{name} has not been trained yet")
    model = models.load_pretrained(name)
    c = model.card.input
    clips, labels = generator.make_test_set(220, TEST_SEED, num_frames=c.num_frames, size=c.image_size)
    res = classification(model, clips, labels, c)
    assert res["accuracy"] >= 0.97 and res["reversal_to_partner"] >= 0.95, res


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n,
            marks=_strict_unless(
                _recorded(n, "renderer_b", B_FIRST).get("accuracy", 0.0) >= 0.93,
                "issue 14 bar (0.93 on renderer B) not reached by this checkpoint; see its card",
            ),
        )
        for n in SHIPPED
    ],
)
def test_shipped_model_reaches_the_bar_on_renderer_b(name: str, request: pytest.FixtureRequest) -> None:
    """Issue 14: >= 0.93 top-1 on clips of the independent renderer B (encoded, decoded, sampled)."""
    if not _present(name):
        pytest.skip(f"{name} has not been trained yet")
    model = models.load_pretrained(name)
    cache = request.config.cache.mkdir("vtserve-renderer-b") if request.config.cache else None
    clips, labels = renderer_b_set(B_FIRST, model.card.input, cache_dir=cache)
    assert classification(model, clips, labels, model.card.input)["accuracy"] >= 0.93
