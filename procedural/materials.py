"""Material randomizer: a `MaterialRule` family + rng → one concrete `Material` (linear RGB)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scenesmith.procedural.colors import jitter_hsv, srgb_to_linear
from scenesmith.procedural.description import Material
from scenesmith.procedural.params import MaterialRule


def sample_material(
    rule: MaterialRule, rng: np.random.Generator, name: str, texture: np.ndarray | None = None
) -> tuple[Material, dict[str, Any]]:
    """Draw every parameter of `rule` once; return the material and the factors drawn.

    `texture` (a generated image, e.g. a printed product label) is mapped through the object's UVs.
    """
    color = rule.color.sample(rng)
    hue = rule.hue_jitter_deg.sample(rng)
    hue_shift = float(rng.uniform(-hue, hue)) if hue > 0 else 0.0
    srgb = jitter_hsv(color, hue_shift, rule.saturation_scale.sample(rng), rule.value_scale.sample(rng))
    secondary = rule.secondary_color.sample(rng)
    material = Material(
        name=name,
        base_color=srgb_to_linear(srgb),
        roughness=rule.roughness.sample(rng),
        metallic=rule.metallic.sample(rng),
        specular=rule.specular.sample(rng),
        transmission=rule.transmission.sample(rng),
        coat=rule.coat.sample(rng),
        pattern_strength=rule.pattern_strength.sample(rng),
        pattern_scale=rule.pattern_scale.sample(rng),
        secondary_color=srgb_to_linear(secondary),
        pattern=rule.pattern.sample(rng),
        dirt=rule.dirt.sample(rng),
        wear=rule.wear.sample(rng),
        texture=texture,
    )
    factors = {
        "srgb": [round(c, 6) for c in srgb],
        "hue_shift_deg": hue_shift,
        "roughness": material.roughness,
        "metallic": material.metallic,
        "specular": material.specular,
        "transmission": material.transmission,
        "coat": material.coat,
        "pattern": material.pattern,
        "pattern_strength": material.pattern_strength,
        "pattern_scale": material.pattern_scale,
        "secondary_srgb": [round(c, 6) for c in secondary],
        "dirt": material.dirt,
        "wear": material.wear,
    }
    return material, factors
