"""Finding bundles: paths, the repository, the cache; exporting a checkpoint on first start."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from service.bundles import BundleNotFound, _newer_than, configured_names, is_checkpoint, resolve_bundle
from service.settings import Settings


def test_paths_repository_and_listing(tiny_bundle: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "alpha").symlink_to(tiny_bundle, target_is_directory=True)
    (repo / "not-a-bundle").mkdir()
    settings = Settings(model_repository=repo, models=[], cache_dir=tmp_path / "cache")
    assert configured_names(settings) == ["alpha"]
    assert resolve_bundle("alpha", settings) == repo / "alpha"
    assert resolve_bundle(str(tiny_bundle), settings) == tiny_bundle
    with pytest.raises(BundleNotFound, match="no bundle for model 'nope'"):
        resolve_bundle("nope", settings)
    with pytest.raises(BundleNotFound):
        configured_names(Settings(models=[], cache_dir=tmp_path))


def test_staleness_follows_the_checkpoint_files(tiny_bundle: Path) -> None:
    checkpoint = tiny_bundle.parent / "tiny-checkpoint"
    assert is_checkpoint(checkpoint) and not is_checkpoint(tiny_bundle)
    assert not _newer_than(checkpoint, tiny_bundle)
    weights = next(p for p in checkpoint.iterdir() if p.is_file())
    later = time.time() + 3600
    original = weights.stat().st_mtime
    os.utime(weights, (later, later))
    try:
        assert _newer_than(checkpoint, tiny_bundle)
    finally:
        os.utime(weights, (original, original))


@pytest.mark.slow
def test_a_checkpoint_is_exported_into_the_cache_once(tiny_bundle: Path, tmp_path: Path) -> None:
    checkpoint = tiny_bundle.parent / "tiny-checkpoint"
    settings = Settings(models=[str(checkpoint)], cache_dir=tmp_path / "cache")
    bundle = resolve_bundle(str(checkpoint), settings)
    assert bundle == tmp_path / "cache" / "tiny-checkpoint" and (bundle / "model.onnx").is_file()
    exported_at = (bundle / "model.json").stat().st_mtime
    assert resolve_bundle(str(checkpoint), settings) == bundle  # reused, not exported again
    assert (bundle / "model.json").stat().st_mtime == exported_at
