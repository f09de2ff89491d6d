"""`model.json`: the input contract inside, shapes derived from it, schema-1 bundles still readable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from export.describe import build_manifest
from export.manifest import ATTENTION_GRID, SCHEMA_VERSION, Manifest
from models.card import ModelCard
from models.contract import Grid, InputContract

CONTRACT = InputContract(num_frames=8, image_size=64, patch_size=16, tubelet_size=2, sampling="uniform")
CARD = ModelCard(
    name="m", architecture="vivit", attention="joint_space_time", labels=("a", "b", "c"), input=CONTRACT
)


def _manifest(**kwargs: object) -> Manifest:
    names = ("logits", "temporal_attention", "spatial_attention")
    return build_manifest(CARD, output_names=names, versions={}, files={}, parity=None, **kwargs)  # type: ignore[arg-type]


def test_shapes_are_projections_of_the_contract() -> None:
    manifest = _manifest()
    assert manifest.input == CONTRACT and manifest.grids == {ATTENTION_GRID: Grid(4, 4, 4)}
    assert manifest.inputs[0].shape == ["batch", 8, 64, 64, 3] and manifest.inputs[0].dtype == "uint8"
    shapes = {spec.name: spec.shape for spec in manifest.outputs}
    assert shapes == {
        "logits": ["batch", 3],
        "temporal_attention": ["batch", 4, 4],
        "spatial_attention": ["batch", 4, 4, 4],
    }


def test_a_model_with_its_own_attention_grid_records_it() -> None:
    manifest = _manifest(grids={ATTENTION_GRID: Grid(4, 2, 2), "view_1": Grid(2, 4, 4)})
    assert manifest.attention_grid == Grid(4, 2, 2)
    assert {s.name: s.shape for s in manifest.outputs}["spatial_attention"] == ["batch", 4, 2, 2]


def test_manifest_round_trips_and_refuses_unknown_contract_fields() -> None:
    manifest = _manifest()
    text = manifest.model_dump_json()
    assert Manifest.model_validate_json(text) == manifest
    data = manifest.model_dump(mode="json")
    data["input"]["crops"] = 3
    with pytest.raises(ValidationError, match="crops"):
        Manifest.model_validate(data)


def test_schema_1_manifest_is_read_as_schema_2() -> None:
    current = _manifest().model_dump(mode="json")
    legacy = {k: v for k, v in current.items() if k not in ("input", "grids")}
    legacy.update(
        schema_version=1,
        num_frames=8,
        image_size=64,
        patch_size=16,
        tubelet_size=2,
        mean=[0.45, 0.45, 0.45],
        std=[0.225, 0.225, 0.225],
        sampling={"policy": "uniform", "num_frames": 8, "frame_stride": None, "target_fps": None},
        resize={"policy": "short_side_center_crop", "short_side": 64, "crop_size": 64, "crops": 1},
    )
    upgraded = Manifest.model_validate(legacy)
    assert upgraded.schema_version == SCHEMA_VERSION
    assert upgraded.input == InputContract(**{**CONTRACT.to_dict(), "resize_short_side": 64})
    assert upgraded.attention_grid == Grid(4, 4, 4)


def test_input_tensor_that_disagrees_with_the_contract_is_refused() -> None:
    data = _manifest().model_dump(mode="json")
    data["inputs"][0]["shape"] = ["batch", 16, 64, 64, 3]
    with pytest.raises(ValidationError, match="does not match the input contract"):
        Manifest.model_validate(data)
