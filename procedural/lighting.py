"""Lighting randomizers: ambient environment, overhead area/point lights, and a physical sun + sky.

The sky takes only sun angles, so the sun position is computed here from date, solar time and
latitude (`sun.py`); exposure and white balance come from light power and colour temperature.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from scenesmith.procedural.colors import kelvin_to_linear_rgb, srgb_to_linear
from scenesmith.procedural.description import Light, Sky, World
from scenesmith.procedural.params import Color, Fraction, Length, PositiveLength, Rule, number
from scenesmith.procedural.sun import sun_position


class AmbientRule(Rule):
    color: Color = "#ffffff"
    strength: number(minimum=0, maximum=1000) = 0.5


class LampRule(Rule):
    """A soft overhead light (ceiling panel, window): placed above the scene, aimed at its centre."""

    kind: Literal["area", "point"] = "area"
    power_w: number(minimum=0, maximum=1e7)
    height_m: PositiveLength
    offset_m: Length = 0.0
    size_m: PositiveLength = 0.5
    color_temperature_k: number(minimum=1000, maximum=20000) = 5500.0


class SunRule(Rule):
    """Daylight: a physical sky with its sun, positioned by date, solar time and latitude."""

    day_of_year: number(minimum=1, maximum=366) = {"uniform": [1, 365]}
    solar_hour: number(minimum=0, maximum=24) = {"uniform": [8, 16]}
    latitude_deg: number(minimum=-90, maximum=90) = 45.0
    # Sky brightness; the renderer derives the sun lamp's power and colour from the sky model
    # (elevation, haze) and scales it by the same strength, so sun and sky always agree.
    strength: number(minimum=0, maximum=100) = 1.0
    sun_angle_deg: number(minimum=0, maximum=30) = 0.53  # apparent sun size: shadow softness
    haze: Fraction = 0.2


class LightingRule(Rule):
    ambient: AmbientRule = AmbientRule()
    lights: dict[str, LampRule] = {}
    sun: SunRule | None = None


def sample_lighting(
    rule: LightingRule, rng: np.random.Generator, centre: np.ndarray
) -> tuple[World, list[Light], dict[str, Any]]:
    factors: dict[str, Any] = {}
    sky = None
    lights = []
    if rule.sun is not None:
        day, hour = rule.sun.day_of_year.sample(rng), rule.sun.solar_hour.sample(rng)
        latitude = rule.sun.latitude_deg.sample(rng)
        elevation, azimuth = sun_position(day, hour, latitude)
        # A sun below the horizon would leave nothing to see: keep it just above, and record it.
        elevation = max(elevation, math.radians(2.0))
        sky = Sky(
            sun_elevation=elevation,
            sun_azimuth=azimuth,
            strength=rule.sun.strength.sample(rng),
            haze=rule.sun.haze.sample(rng),
            sun_angle=math.radians(rule.sun.sun_angle_deg.sample(rng)),
        )
        factors |= {
            "sun.day_of_year": day,
            "sun.solar_hour": hour,
            "sun.latitude_deg": latitude,
            "sun.elevation_deg": math.degrees(elevation),
            "sun.azimuth_deg": math.degrees(azimuth),
            "sun.angle_deg": math.degrees(sky.sun_angle),
            "sky.strength": sky.strength,
            "sky.haze": sky.haze,
        }
    world = World(
        color=srgb_to_linear(rule.ambient.color.sample(rng)),
        strength=rule.ambient.strength.sample(rng),
        sky=sky,
    )
    factors["ambient.strength"] = world.strength
    for name, lamp in rule.lights.items():
        height = lamp.height_m.sample(rng)
        offset = lamp.offset_m.sample(rng)
        angle = rng.uniform(0, 2 * math.pi)
        position = np.asarray(centre, float) + np.array(
            [offset * math.cos(angle), offset * math.sin(angle), height]
        )
        direction = np.asarray(centre, float) - position
        direction /= np.linalg.norm(direction)
        kelvin = lamp.color_temperature_k.sample(rng)
        light = Light(
            kind=lamp.kind,
            position=tuple(float(v) for v in position),
            direction=tuple(float(v) for v in direction),
            power=lamp.power_w.sample(rng),
            color=kelvin_to_linear_rgb(kelvin),
            size=lamp.size_m.sample(rng),
        )
        lights.append(light)
        factors |= {
            f"{name}.power_w": light.power,
            f"{name}.height_m": height,
            f"{name}.offset_m": offset,
            f"{name}.azimuth_deg": math.degrees(angle),
            f"{name}.size_m": light.size,
            f"{name}.color_temperature_k": kelvin,
        }
    return world, lights, factors
