"""Sensor randomizer: camera noise, blur, chromatic aberration, vignetting, JPEG, exposure.

Only the parameters are sampled here (plain data in the description); the renderer applies them
to the RGB after rendering, so labels are untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scenesmith.procedural.description import SensorEffects
from scenesmith.procedural.params import Fraction, Rule, number


class SensorRule(Rule):
    noise_std: number(minimum=0, maximum=0.5) = 0.0
    blur_sigma_px: number(minimum=0, maximum=20) = 0.0
    chromatic_aberration_px: number(minimum=0, maximum=20) = 0.0
    vignetting: Fraction = 0.0
    # JPEG quality 1–100; 0 means no JPEG round trip.
    jpeg_quality: number(integer=True, minimum=0, maximum=100) = 0
    exposure_ev: number(minimum=-5, maximum=5) = 0.0


def sample_sensor(rule: SensorRule, rng: np.random.Generator) -> tuple[SensorEffects, dict[str, Any]]:
    quality = int(rule.jpeg_quality.sample(rng))
    effects = SensorEffects(
        noise_std=rule.noise_std.sample(rng),
        blur_sigma_px=rule.blur_sigma_px.sample(rng),
        chromatic_aberration_px=rule.chromatic_aberration_px.sample(rng),
        vignetting=rule.vignetting.sample(rng),
        jpeg_quality=quality or None,
        exposure_ev=rule.exposure_ev.sample(rng),
    )
    factors = {
        "noise_std": effects.noise_std,
        "blur_sigma_px": effects.blur_sigma_px,
        "chromatic_aberration_px": effects.chromatic_aberration_px,
        "vignetting": effects.vignetting,
        "jpeg_quality": quality,
        "exposure_ev": effects.exposure_ev,
    }
    return effects, factors
