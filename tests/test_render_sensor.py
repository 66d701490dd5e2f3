"""Sensor effects (`scenesmith.render.sensor`): bpy-free unit tests plus one renderer integration test."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scenesmith.procedural.description import SensorEffects
from scenesmith.render.sensor import apply_sensor


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def textured(h: int = 96, w: int = 128) -> np.ndarray:
    """Smooth gradients plus sharp blocks: something for blur and JPEG to damage."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / w, y * 255 / h, ((x // 8 + y // 8) % 2) * 200 + 20], -1)
    return img.astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_defaults_return_the_input_unchanged() -> None:
    img = textured()
    out = apply_sensor(img, SensorEffects(), rng())
    assert out is img
    assert np.array_equal(out, textured())


def test_exposure_scales_and_clips() -> None:
    img = np.full((8, 8, 3), 100, np.uint8)
    assert (apply_sensor(img, SensorEffects(exposure_ev=1.0), rng()) == 200).all()
    assert (apply_sensor(img, SensorEffects(exposure_ev=-1.0), rng()) == 50).all()
    assert (apply_sensor(img, SensorEffects(exposure_ev=3.0), rng()) == 255).all()


def test_noise_std_matches_request_and_is_seeded() -> None:
    img = np.full((128, 128, 3), 128, np.uint8)
    eff = SensorEffects(noise_std=0.03)
    out = apply_sensor(img, eff, rng(7))
    measured = (out.astype(float) - 128).std() / 255
    assert measured == pytest.approx(0.03, rel=0.05)
    assert abs((out.astype(float) - 128).mean()) < 0.2
    assert np.array_equal(out, apply_sensor(img, eff, rng(7)))
    assert not np.array_equal(out, apply_sensor(img, eff, rng(8)))


def test_vignetting_darkens_corners_not_centre() -> None:
    img = np.full((64, 96, 3), 200, np.uint8)
    out = apply_sensor(img, SensorEffects(vignetting=0.5), rng()).astype(float)
    assert out[31:33, 47:49].mean() > 199
    for corner in (out[0, 0], out[0, -1], out[-1, 0], out[-1, -1]):
        assert corner.mean() == pytest.approx(100, abs=3)  # 1 − vignetting at the corner
    assert out[0, 48].mean() > out[0, 0].mean()  # edge midpoints between centre and corner


def test_blur_smooths_edges() -> None:
    img = textured()
    out = apply_sensor(img, SensorEffects(blur_sigma_px=1.5), rng())
    grad = lambda a: np.abs(np.diff(a.astype(float), axis=1)).max()  # noqa: E731
    assert grad(out) < 0.5 * grad(img)
    assert abs(out.astype(float).mean() - img.astype(float).mean()) < 1


def test_jpeg_quality_lowers_psnr() -> None:
    img = textured()
    p90 = psnr(img, apply_sensor(img, SensorEffects(jpeg_quality=90), rng()))
    p10 = psnr(img, apply_sensor(img, SensorEffects(jpeg_quality=10), rng()))
    assert np.isfinite(p90) and p10 < p90 - 3


def _centroid(channel: np.ndarray) -> np.ndarray:
    ii, jj = np.mgrid[0 : channel.shape[0], 0 : channel.shape[1]]
    w = channel.astype(float)
    return np.array([(jj * w).sum() / w.sum(), (ii * w).sum() / w.sum()])


def test_chromatic_aberration_shifts_red_out_blue_in_at_corners() -> None:
    """A white dot near the top-left corner: red moves away from the centre, blue towards it."""
    h, w, ca = 64, 64, 2.0
    img = np.zeros((h, w, 3), np.uint8)
    img[4:8, 4:8] = 255
    out = apply_sensor(img, SensorEffects(chromatic_aberration_px=ca), rng())
    centre = np.array([w / 2, h / 2])
    dot = _centroid(img[..., 1]) + 0.5  # pixel-centre coordinates
    r, g, b = (_centroid(out[..., c]) + 0.5 for c in range(3))
    np.testing.assert_allclose(g, dot, atol=1e-9)  # green is the reference
    # Radial scale s = (corner + ca) / corner about the centre: shift = (s − 1) · (dot − centre).
    expected = ca / np.hypot(w / 2, h / 2) * (dot - centre)
    np.testing.assert_allclose(r - dot, expected, atol=0.1)
    np.testing.assert_allclose(b - dot, -expected, atol=0.1)
    assert np.linalg.norm(r - centre) > np.linalg.norm(dot - centre) > np.linalg.norm(b - centre)


def test_all_effects_together_deterministic() -> None:
    img = textured()
    eff = SensorEffects(0.02, 0.8, 1.0, 0.3, 80, 0.3)
    a = apply_sensor(img, eff, rng(3))
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, apply_sensor(img, eff, rng(3)))
    assert not np.array_equal(a, img)


@pytest.mark.parametrize(
    "bad",
    [
        {"noise_std": -0.1},
        {"blur_sigma_px": float("nan")},
        {"vignetting": 1.5},
        {"jpeg_quality": 0},
        {"jpeg_quality": 95.0},
        {"exposure_ev": float("inf")},
    ],
)
def test_bad_effects_raise_value_error(bad: dict) -> None:
    with pytest.raises(ValueError):
        apply_sensor(textured(), dataclasses.replace(SensorEffects(), **bad), rng())


def test_renderer_applies_sensor_to_rgb_only() -> None:
    pytest.importorskip("bpy")
    from test_render_materials import GREY, plate, scene, top_down_camera

    from scenesmith.render.blender import BlenderRenderer
    from scenesmith.render.settings import RenderSettings

    eff = SensorEffects(noise_std=0.05, vignetting=0.4, jpeg_quality=70)
    desc = scene(top_down_camera(32, 32), [plate(GREY)])
    with BlenderRenderer(RenderSettings(samples=4, denoise=False)) as r:
        clean = r.render(desc)
        noisy = r.render(dataclasses.replace(desc, sensor=eff))
    assert not np.array_equal(clean.rgb, noisy.rgb)
    assert np.array_equal(apply_sensor(clean.rgb, eff, np.random.default_rng(desc.seed)), noisy.rgb)
    for name in ("instance", "depth", "normal"):
        assert np.array_equal(getattr(clean, name), getattr(noisy, name), equal_nan=True)
    assert noisy.settings["sensor"] == dataclasses.asdict(eff)
    assert clean.settings["sensor"] == dataclasses.asdict(SensorEffects())
    assert "sensor" in noisy.timings


def test_motion_blur_smears_a_point_along_its_angle() -> None:
    img = np.zeros((41, 41, 3), np.uint8)
    img[20, 20] = 255
    out = apply_sensor(
        img, SensorEffects(motion_blur_px=9, motion_blur_angle_deg=90), np.random.default_rng(0)
    )
    rows, cols = np.nonzero(out[..., 0])
    assert np.ptp(rows) >= 7 and np.ptp(cols) <= 2  # vertical streak


def test_white_balance_error_tints_the_image() -> None:
    from scenesmith.procedural.sensor import white_balance_gains

    grey = np.full((8, 8, 3), 128, np.uint8)
    # Balanced for a warmer light than the real one: the picture comes out bluer, and vice versa.
    bluer = apply_sensor(
        grey, SensorEffects(white_balance=white_balance_gains(-1500)), np.random.default_rng(0)
    )
    warmer = apply_sensor(
        grey, SensorEffects(white_balance=white_balance_gains(2000)), np.random.default_rng(0)
    )
    assert bluer[0, 0, 2] > bluer[0, 0, 0] and warmer[0, 0, 0] > warmer[0, 0, 2]
    assert bluer[0, 0, 1] == warmer[0, 0, 1] == 128


@pytest.mark.parametrize("level", [30, 120, 235])
def test_auto_exposure_meters_any_scene_to_the_target(level: int) -> None:
    rng = np.random.default_rng(1)
    img = np.clip(rng.normal(level, 20, (48, 48, 3)), 0, 255).astype(np.uint8)
    out = apply_sensor(img, SensorEffects(auto_exposure_target=0.6), rng)
    assert abs(out.mean() / 255 - 0.6) < 0.02
