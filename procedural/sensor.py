"""Sensor randomizer: camera noise, blur, chromatic aberration, vignetting, JPEG, exposure.

Only the parameters are sampled here (plain data in the description); the renderer applies them
to the RGB after rendering, so labels are untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scenesmith.procedural.colors import kelvin_to_linear_rgb
from scenesmith.procedural.description import SensorEffects
from scenesmith.procedural.params import Angle, Fraction, Rule, number


class SensorRule(Rule):
    noise_std: number(minimum=0, maximum=0.5) = 0.0
    blur_sigma_px: number(minimum=0, maximum=20) = 0.0
    chromatic_aberration_px: number(minimum=0, maximum=20) = 0.0
    vignetting: Fraction = 0.0
    # JPEG quality 1–100; 0 means no JPEG round trip.
    jpeg_quality: number(integer=True, minimum=0, maximum=100) = 0
    exposure_ev: number(minimum=-5, maximum=5) = 0.0
    motion_blur_px: number(minimum=0, maximum=50) = 0.0
    motion_blur_angle_deg: Angle = {"uniform": [0, 180]}
    # Auto white balance error: the camera balances for (6500 K + this), the light is 6500 K.
    white_balance_error_k: number(minimum=-4000, maximum=10000) = 0.0
    # Auto exposure: the mean grey level (0..1) the camera meters for; omit to keep the render's exposure.
    auto_exposure_target: number(minimum=0.01, maximum=0.99) | None = None


def white_balance_gains(error_k: float, reference_k: float = 6500.0) -> tuple[float, float, float]:
    """Channel gains of a camera that balanced for `reference_k + error_k` under `reference_k` light."""
    if error_k == 0:
        return (1.0, 1.0, 1.0)
    light = np.asarray(kelvin_to_linear_rgb(reference_k))
    assumed = np.asarray(kelvin_to_linear_rgb(reference_k + error_k))
    # A camera divides by the illuminant it assumed: relative to a correct balance, that is light/assumed.
    gains = (light / assumed) / (light[1] / assumed[1])  # green fixed, as cameras do
    return tuple(float(g) for g in gains)  # type: ignore[return-value]


def sample_sensor(rule: SensorRule, rng: np.random.Generator) -> tuple[SensorEffects, dict[str, Any]]:
    quality = int(rule.jpeg_quality.sample(rng))
    effects = SensorEffects(
        noise_std=rule.noise_std.sample(rng),
        blur_sigma_px=rule.blur_sigma_px.sample(rng),
        chromatic_aberration_px=rule.chromatic_aberration_px.sample(rng),
        vignetting=rule.vignetting.sample(rng),
        jpeg_quality=quality or None,
        exposure_ev=rule.exposure_ev.sample(rng),
        motion_blur_px=rule.motion_blur_px.sample(rng),
        motion_blur_angle_deg=rule.motion_blur_angle_deg.sample(rng),
        white_balance=white_balance_gains(rule.white_balance_error_k.sample(rng)),
        auto_exposure_target=None
        if rule.auto_exposure_target is None
        else rule.auto_exposure_target.sample(rng),
    )
    factors = {
        "noise_std": effects.noise_std,
        "blur_sigma_px": effects.blur_sigma_px,
        "chromatic_aberration_px": effects.chromatic_aberration_px,
        "vignetting": effects.vignetting,
        "jpeg_quality": quality,
        "exposure_ev": effects.exposure_ev,
        "motion_blur_px": effects.motion_blur_px,
        "motion_blur_angle_deg": effects.motion_blur_angle_deg,
        "white_balance": list(effects.white_balance),
        "auto_exposure_target": effects.auto_exposure_target,
    }
    return effects, factors
