"""Lighting randomizer: ambient environment plus overhead area/point lights aimed at the scene."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scenesmith.procedural.colors import kelvin_to_linear_rgb, srgb_to_linear
from scenesmith.procedural.description import Light, World
from scenesmith.procedural.rules import LightingRule


def sample_lighting(
    rule: LightingRule, rng: np.random.Generator, centre: np.ndarray
) -> tuple[World, list[Light], dict[str, Any]]:
    world = World(
        color=srgb_to_linear(rule.ambient.color.sample(rng)), strength=rule.ambient.strength.sample(rng)
    )
    factors: dict[str, Any] = {"ambient.strength": world.strength}
    lights = []
    for name, light_rule in rule.lights.items():
        height = light_rule.height_m.sample(rng)
        offset = light_rule.offset_m.sample(rng)
        angle = rng.uniform(0, 2 * math.pi)
        position = np.asarray(centre, float) + np.array(
            [offset * math.cos(angle), offset * math.sin(angle), height]
        )
        direction = np.asarray(centre, float) - position
        direction /= np.linalg.norm(direction)
        kelvin = light_rule.color_temperature_k.sample(rng)
        light = Light(
            kind=light_rule.kind,
            position=tuple(float(v) for v in position),
            direction=tuple(float(v) for v in direction),
            power=light_rule.power_w.sample(rng),
            color=kelvin_to_linear_rgb(kelvin),
            size=light_rule.size_m.sample(rng),
        )
        lights.append(light)
        factors.update(
            {
                f"{name}.power_w": light.power,
                f"{name}.height_m": height,
                f"{name}.offset_m": offset,
                f"{name}.size_m": light.size,
                f"{name}.color_temperature_k": kelvin,
            }
        )
    return world, lights, factors
