"""The layout and texture bands on sets whose only difference is known: a light ramp's direction
(layout) or the grain (texture). Each band must see its own difference and be blind to the other."""

from __future__ import annotations

import numpy as np

from scenesmith.domain_adapt.gap_bands import layout_band, texture_band
from scenesmith.domain_adapt.gap_classifier import two_sample_test

SIZE = 128  # the size the gap classifier sees


def scenes(count: int, seed: int, light_from_top: bool, grain: float) -> np.ndarray:
    """Grey frames lit by a ramp from the top or the bottom (the classifier's augmentation flips left and
    right, so a sideways ramp would be no difference to it), with small dark 'objects' and grain."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(90.0, 170.0, SIZE)
    ramp = ramp if light_from_top else ramp[::-1]
    out = []
    for _ in range(count):
        image = np.broadcast_to(ramp[:, None, None], (SIZE, SIZE, 3)).copy()
        for y, x in rng.integers(4, SIZE - 6, (5, 2)):
            image[y : y + 3, x : x + 3] -= 60
        out.append(np.clip(image + rng.normal(0, grain, image.shape), 0, 255))
    return np.stack(out).astype(np.uint8)


def band_aucs(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    layout = two_sample_test(layout_band(a), layout_band(b), steps=40, folds=3, seed=0)
    texture = two_sample_test(texture_band(a), texture_band(b), steps=40, folds=3, seed=0)
    return layout["auc"], texture["auc"]


def test_bands_keep_the_shape_and_type() -> None:
    images = scenes(3, seed=0, light_from_top=True, grain=5)
    for band in (layout_band(images), texture_band(images)):
        assert band.shape == images.shape and band.dtype == np.uint8


def test_layout_band_removes_grain_and_texture_band_removes_the_light() -> None:
    images = scenes(4, seed=1, light_from_top=True, grain=20)
    layout, texture = layout_band(images).astype(float), texture_band(images).astype(float)
    # grain gone from the layout band: neighbouring pixels differ by far less than the grain
    assert np.abs(np.diff(layout, axis=2)).mean() < 3
    # the ramp gone from the texture band: its top and bottom thirds have the same mean
    assert abs(texture[:, : SIZE // 3].mean() - texture[:, -SIZE // 3 :].mean()) < 2


def test_a_light_direction_shows_in_the_layout_band_only() -> None:
    layout, texture = band_aucs(
        scenes(30, seed=2, light_from_top=True, grain=12),
        scenes(30, seed=3, light_from_top=False, grain=12),
    )
    assert layout > 0.95
    assert abs(texture - 0.5) < 0.2


def test_grain_shows_in_the_texture_band_only() -> None:
    layout, texture = band_aucs(
        scenes(30, seed=4, light_from_top=True, grain=3), scenes(30, seed=5, light_from_top=True, grain=15)
    )
    assert texture > 0.95
    assert abs(layout - 0.5) < 0.2
