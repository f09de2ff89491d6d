"""Camera effects, textures and the upload's sampling: each does what its docstring says."""

from __future__ import annotations

import numpy as np

from models.demo.textures import draw_fill, fill_rgb, pink_noise
from models.demo.upload import Camera, Upload, apply_camera, gaussian_noise, uniform_indices


def _grey(frames: int = 4) -> np.ndarray:
    return np.full((frames, 32, 32, 3), 0.5, np.float32)


def test_noise_has_its_sigma_and_luminance_noise_is_shared_by_channels() -> None:
    rng = np.random.default_rng(0)
    out = apply_camera(_grey(), Camera(noise=0.05, chroma=True), 32.0, rng).astype(float) / 255
    assert abs(float(out.std()) - 0.05) < 0.005 and abs(float(out.mean()) - 0.5) < 0.005
    luma = apply_camera(_grey(), Camera(noise=0.05, chroma=False), 32.0, rng)
    assert np.array_equal(luma[..., 0], luma[..., 1]) and abs(float(luma.std()) / 255 - 0.05) < 0.005
    assert np.array_equal(apply_camera(_grey(), Camera(), 32.0, rng), np.full((4, 32, 32, 3), 128, np.uint8))


def test_noise_bank_windows_differ_per_frame_and_are_seeded() -> None:
    a = gaussian_noise(np.random.default_rng(1), (6, 700, 700, 3))  # larger than half the bank: windows
    b = gaussian_noise(np.random.default_rng(1), (6, 700, 700, 3))
    assert np.array_equal(a, b) and not np.array_equal(a[0], a[1])
    assert abs(float(a.std()) - 1.0) < 0.01


def test_blur_softens_edges_and_flicker_and_salt_change_pixels() -> None:
    video = np.zeros((2, 32, 32, 3), np.float32)
    video[:, :, 16:] = 1.0
    blurred = apply_camera(video, Camera(blur=1.5 / 32), 32.0, np.random.default_rng(0)).astype(float) / 255
    assert 0.05 < blurred[0, 10, 15, 0] < 0.5 < blurred[0, 10, 16, 0] < 0.95
    assert blurred[0, 10, 2, 0] == 0.0 and blurred[0, 10, 30, 0] == 1.0
    flicker = apply_camera(_grey(8), Camera(flicker=0.05), 32.0, np.random.default_rng(0)).astype(float)
    assert np.ptp(flicker.mean((1, 2, 3))) > 2.5
    salt = apply_camera(_grey(), Camera(salt=0.02), 32.0, np.random.default_rng(0))
    assert 0.005 < float((salt == 0).mean()) < 0.02 and float((salt == 255).mean()) > 0.005


def test_pink_noise_has_a_natural_image_spectrum() -> None:
    field = pink_noise(np.random.default_rng(0), 128, 128, beta=2.0)
    power = np.abs(np.fft.fft2(field - field.mean())) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128), indexing="ij"))
    bands = [(0.02, 0.04), (0.16, 0.32)]
    low, high = (power[(f >= a) & (f < b)].mean() for a, b in bands)
    slope = np.log(high / low) / np.log(8.0)  # power ~ f^-beta between the two bands
    assert -2.6 < slope < -1.4, slope


def test_fills_are_painted_in_the_objects_own_coordinates() -> None:
    rng = np.random.default_rng(0)
    stripes = draw_fill(rng, np.zeros(3), 0.5, 0.5, kind="stripes")
    lx, ly = np.meshgrid(np.linspace(-1, 1, 41), np.linspace(-1, 1, 41))
    painted = fill_rgb(stripes, lx, ly)
    assert len({tuple(c) for c in painted.reshape(-1, 3).round(4)}) == 2  # two colours
    c, s = np.cos(0.6), np.sin(0.6)  # turning the object turns its pattern
    turned = fill_rgb(stripes, c * lx + s * ly, -s * lx + c * ly)
    assert not np.array_equal(painted, turned)
    photo = draw_fill(rng, np.zeros(3), 0.5, 0.5, kind="photo")
    assert photo.tile is not None and photo.tile.std() > 0.02
    assert np.abs(photo.mean_colour - photo.colour).max() < 0.05  # the contrast asked for is kept


def test_uniform_sampling_like_the_service() -> None:
    assert uniform_indices(80, 8).tolist() == [5, 15, 25, 35, 45, 55, 65, 75]
    assert uniform_indices(3, 8).tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    up = Upload(width=320, height=240, content_w=320.0, content_h=240.0, fps=25.0, seconds=2.0)
    assert up.source_frames == 50
    assert np.allclose(up.sample_times(8), (uniform_indices(50, 8) + 0.5) / 50)
