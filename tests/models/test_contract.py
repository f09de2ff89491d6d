"""The input contract: declared once, validated where it is built, projected everywhere else."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from models.card import ModelCard
from models.contract import Grid, InputContract, token_grid


def _contract(**changes: object) -> InputContract:
    values: dict[str, object] = {"num_frames": 8, "image_size": 64, "patch_size": 16, "tubelet_size": 2}
    values.update(changes)
    return InputContract(**values)  # type: ignore[arg-type]


def test_grid_is_computed_from_frames_size_patch_and_tubelet() -> None:
    contract = _contract()
    assert (
        contract.grid
        == Grid(4, 4, 4)
        == token_grid(num_frames=8, image_size=64, patch_size=16, tubelet_size=2)
    )
    assert contract.grid.tokens == 64 and contract.grid.patches == 16
    assert contract.input_shape() == ["batch", 8, 64, 64, 3]
    assert contract.short_side == 64 and _contract(resize_short_side=72).short_side == 72


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_size": 60}, "not a multiple of patch_size"),
        ({"num_frames": 7}, "not a multiple of tubelet_size"),
        ({"sampling": "stride"}, "needs frame_stride"),
        ({"test_crops": 2}, "test_crops must be 1 or 3"),
        ({"resize_short_side": 32}, "smaller than image_size"),
        ({"mean": (0.5, 0.5)}, "needs 3 values"),
        ({"std": (0.5, 0.0, 0.5)}, "std must be positive"),
    ],
)
def test_contract_refuses_inconsistent_facts(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _contract(**changes)


def test_contract_and_card_round_trip_through_json() -> None:
    card = ModelCard(
        name="m", architecture="vivit", attention="joint_space_time", labels=("a", "b"), input=_contract()
    )
    again = ModelCard.from_dict(json.loads(card.to_json()))
    assert again == card and again.input.mean == (0.45, 0.45, 0.45)
    with pytest.raises(ValueError, match="unknown input contract fields"):
        InputContract.from_dict({**card.input.to_dict(), "crops": 3})


def test_card_reads_the_flat_layout_written_before_the_contract() -> None:
    flat = {
        "name": "m",
        "architecture": "timesformer",
        "attention": "divided_space_time",
        "labels": ["a"],
        "num_frames": 8,
        "image_size": 32,
        "patch_size": 8,
        "sampling": "stride",
        "frame_stride": 32,
        "test_crops": 1,
        "version": "2",
    }
    card = ModelCard.from_dict(flat)
    assert card.version == "2" and card.input.frame_stride == 32 and card.input.grid == Grid(8, 4, 4)


def test_card_with_input_changes_only_the_contract() -> None:
    card = ModelCard(
        name="m", architecture="vivit", attention="joint_space_time", labels=("a",), input=_contract()
    )
    wider = card.with_input(num_frames=16)
    assert wider.input.num_frames == 16 and wider.input.grid.t == 8 and wider.name == card.name


def test_contract_imports_without_torch() -> None:
    code = "import sys, models.contract, models.card\nassert 'torch' not in sys.modules, 'torch imported'\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
