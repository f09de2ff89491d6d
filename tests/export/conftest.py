"""Small random transformers checkpoints saved with `save_pretrained`, and bundles exported from them.

Each folder and bundle is built once per session (ONNX export costs seconds even for tiny models).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

LABELS = ["archery", "bowling", "cycling", "diving", "juggling"]
NUM_FRAMES = 4
IMAGE_SIZE = 32


def _common(**extra: Any) -> dict[str, Any]:
    return {
        "image_size": IMAGE_SIZE,
        "num_frames": NUM_FRAMES,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "id2label": dict(enumerate(LABELS)),
        "label2id": {name: i for i, name in enumerate(LABELS)},
        **extra,
    }


def _timesformer() -> Any:
    from transformers import TimesformerConfig, TimesformerForVideoClassification

    return TimesformerForVideoClassification(TimesformerConfig(**_common(patch_size=8)))


def _videomae() -> Any:
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    return VideoMAEForVideoClassification(
        VideoMAEConfig(**_common(patch_size=8, tubelet_size=2, use_mean_pooling=True))
    )


def _vivit() -> Any:
    from transformers import VivitConfig, VivitForVideoClassification

    return VivitForVideoClassification(VivitConfig(**_common(tubelet_size=[2, 8, 8])))


HF_BUILDERS: dict[str, Callable[[], Any]] = {
    "timesformer": _timesformer,
    "videomae": _videomae,
    "vivit": _vivit,
}


@pytest.fixture(scope="session")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, Any]]:
    """`hf_folder(arch)` → (folder saved with `save_pretrained`, the transformers model in eval mode)."""
    pytest.importorskip("transformers")
    import torch

    cache: dict[str, tuple[Path, Any]] = {}

    def get(arch: str) -> tuple[Path, Any]:
        if arch not in cache:
            torch.manual_seed(1234)
            model = HF_BUILDERS[arch]().eval()
            folder = tmp_path_factory.mktemp(f"hf-{arch}")
            model.save_pretrained(folder)
            cache[arch] = (folder, model)
        return cache[arch]

    return get


@pytest.fixture(scope="session")
def hf_bundle(
    hf_folder: Callable[[str], tuple[Path, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """`hf_bundle(arch)` → a bundle folder exported (with attention) from `hf_folder(arch)`."""
    from export import build_bundle

    cache: dict[str, Path] = {}

    def get(arch: str) -> Path:
        if arch not in cache:
            folder, _model = hf_folder(arch)
            out = tmp_path_factory.mktemp(f"bundle-{arch}-parent") / "bundle"
            build_bundle(folder, out)
            cache[arch] = out
        return cache[arch]

    return get
