"""Bundles of the tiny Video Swin and MTV models, built once and shared by the export and service tests.

Each is built as `vtserve export <folder> --out <bundle>` builds it: `save_pretrained` of the tiny model
(seed 0, random weights), then `export.build_bundle` on that folder, which runs export's own parity check
(onnxruntime vs PyTorch at batch 1 and 3, 1e-4 on logits and maps) and records it in `model.json`.
A dynamo export of either takes 40-60 s on two shared cores, so the bundles are cached in
`.pytest_cache` under a hash of `models/`, `export/` and this file, like the service's tiny bundle.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

NAMES = ("video_swin_tiny", "mtv_tiny")


def _digest() -> str:
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for package in ("models", "export"):
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _build(name: str, root: Path) -> Path:
    import torch

    import export
    import models

    for stale in (root / "checkpoint", root / name):
        shutil.rmtree(stale, ignore_errors=True)
    torch.manual_seed(0)
    checkpoint = models.save_pretrained(models.create_model(name).eval(), root / "checkpoint")
    export.build_bundle(checkpoint, root / name)  # served under its folder's name
    return root / name


def cached_bundle(
    name: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The bundle `<root>/<name>` of the tiny model `name`; its checkpoint is `<root>/checkpoint`."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return _build(name, tmp_path_factory.mktemp(name))
    root = cache.mkdir(f"vtserve-{name}-{_digest()}")
    if not (root / name / "model.json").is_file():
        for stale in root.parent.glob(f"vtserve-{name}-*"):
            if stale != root:
                shutil.rmtree(stale, ignore_errors=True)
        _build(name, root)
    return root / name
