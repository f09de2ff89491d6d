"""Other frame counts and resolutions: explicit, documented resampling — and HF's silent bug avoided."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import models
from tests.models import hf_reference as ref


@pytest.fixture(scope="module")
def hf_timesformer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    hf = ref.timesformer()
    return hf, ref.save_legacy(hf, tmp_path_factory.mktemp("hf") / "timesformer")


def _hf_with(hf: Any, **changes: Any) -> Any:
    """A HF TimeSformer configured for the new input, weights copied, embeddings resampled as official."""
    config = hf.config.__class__(**{**hf.config.to_dict(), **changes})
    other = ref.transformers.TimesformerForVideoClassification(config).eval()
    sd = dict(hf.state_dict())
    emb = "timesformer.embeddings."
    time = sd[emb + "time_embeddings"]  # [1, T, D]: nearest along time
    sd[emb + "time_embeddings"] = F.interpolate(
        time.transpose(1, 2), size=config.num_frames, mode="nearest"
    ).transpose(1, 2)
    pos = sd[emb + "position_embeddings"]  # [1, 1 + n, D]: nearest on the 2D grid, cls kept
    old = int((pos.shape[1] - 1) ** 0.5)
    new = config.image_size // config.patch_size
    grid = pos[:, 1:].transpose(1, 2).reshape(1, -1, old, old)
    grid = F.interpolate(grid, size=(new, new), mode="nearest").flatten(2).transpose(1, 2)
    sd[emb + "position_embeddings"] = torch.cat((pos[:, :1], grid), dim=1)
    other.load_state_dict(sd)
    return other


def test_timesformer_more_frames_is_right_where_hf_is_silently_wrong(
    hf_timesformer: tuple[Any, Path],
) -> None:
    hf, folder = hf_timesformer
    ours = models.load_pretrained(folder, num_frames=8)
    assert ours.config.num_frames == 8 and ours.card.input.num_frames == 8
    x = torch.randn(2, 8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = ours(x).logits
        right = _hf_with(hf, num_frames=8)(pixel_values=x).logits
        silently_wrong = hf(pixel_values=x).logits  # config.num_frames=4, fed 8 frames: no error
    torch.testing.assert_close(got, right, rtol=0, atol=1e-4)
    assert (got - silently_wrong).abs().max() > 1e-2


def test_timesformer_higher_resolution(hf_timesformer: tuple[Any, Path]) -> None:
    hf, folder = hf_timesformer
    ours = models.load_pretrained(folder, image_size=48)
    assert ours.grid == (4, 6, 6)
    x = torch.randn(1, 4, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(
            ours(x).logits, _hf_with(hf, image_size=48)(pixel_values=x).logits, rtol=0, atol=1e-4
        )


def test_timesformer_fewer_frames_uses_nearest_time_embeddings(hf_timesformer: tuple[Any, Path]) -> None:
    hf, folder = hf_timesformer
    ours = models.load_pretrained(folder, num_frames=2)
    time = hf.state_dict()["timesformer.embeddings.time_embeddings"]
    torch.testing.assert_close(ours.time_embed.detach(), time[:, [0, 2]])  # nearest of 4 → 2 picks 0 and 2


def test_videomae_other_frame_count_matches_hf_configured_for_it(tmp_path: Path) -> None:
    hf = ref.videomae()
    ours = models.load_pretrained(ref.save_legacy(hf, tmp_path / "hf"), num_frames=8)
    config = hf.config.__class__(**{**hf.config.to_dict(), "num_frames": 8})
    other = ref.transformers.VideoMAEForVideoClassification(config).eval()
    other.load_state_dict(hf.state_dict())  # the sinusoid table is computed, not stored
    x = torch.randn(2, 8, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x).logits, other(pixel_values=x).logits, rtol=0, atol=1e-4)


def test_vivit_position_embedding_is_resampled_trilinearly(tmp_path: Path) -> None:
    hf = ref.vivit()
    ours = models.load_pretrained(ref.save_legacy(hf, tmp_path / "hf"), num_frames=8, image_size=48)
    assert ours.grid == (4, 6, 6)
    pos = hf.state_dict()["vivit.embeddings.position_embeddings"]  # [1, 1 + 2·4·4, D]
    grid = pos[:, 1:].reshape(1, 2, 4, 4, -1).permute(0, 4, 1, 2, 3)
    expected = F.interpolate(grid, size=(4, 6, 6), mode="trilinear", align_corners=False)
    expected = torch.cat((pos[:, :1], expected.permute(0, 2, 3, 4, 1).reshape(1, 4 * 36, -1)), dim=1)
    torch.testing.assert_close(ours.pos_embed.detach(), expected)
    with torch.no_grad():
        assert torch.isfinite(ours(torch.randn(1, 8, 3, 48, 48)).logits).all()


@pytest.mark.parametrize(
    "name", ["timesformer_tiny", "timesformer_tiny_space_only", "vivit_fe_tiny", "videomae_tiny"]
)
def test_own_checkpoints_resample_too(tmp_path: Path, name: str) -> None:
    folder = models.save_pretrained(models.create_model(name), tmp_path / name)
    model = models.load_pretrained(folder, num_frames=8, image_size=48)
    assert model.card.input.num_frames == 8 and model.card.input.image_size == 48
    with torch.no_grad():
        out = model(torch.randn(2, 8, 3, 48, 48), return_attention=True)
    assert torch.isfinite(out.logits).all()
    assert out.spatial_attention is not None and out.spatial_attention.shape[-2:] == (6, 6)
