"""Colour parsing and conversion: artists write sRGB; materials and lights take linear RGB."""

from __future__ import annotations

import colorsys
import math
import re
from typing import Any

import numpy as np

_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")


def parse_color(value: Any) -> tuple[float, float, float]:
    """'#rrggbb' or [r, g, b] with components in 0..1 (sRGB) → sRGB tuple."""
    if isinstance(value, str):
        match = _HEX.match(value.strip())
        if not match:
            raise ValueError(f"expected a colour '#rrggbb' or [r, g, b] in 0..1, got {value!r}")
        h = match.group(1)
        return tuple(int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]
    if (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(isinstance(c, int | float) and not isinstance(c, bool) and 0 <= c <= 1 for c in value)
    ):
        return (float(value[0]), float(value[1]), float(value[2]))
    raise ValueError(f"expected a colour '#rrggbb' or [r, g, b] in 0..1, got {value!r}")


def srgb_to_linear(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    c = np.clip(np.asarray(rgb, dtype=float), 0.0, 1.0)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return tuple(float(x) for x in lin)  # type: ignore[return-value]


def jitter_hsv(
    rgb: tuple[float, float, float], hue_shift_deg: float, saturation_scale: float, value_scale: float
) -> tuple[float, float, float]:
    """Perturb an sRGB colour in HSV (hue rotation, multiplicative saturation/value)."""
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    h = (h + hue_shift_deg / 360.0) % 1.0
    s = min(1.0, max(0.0, s * saturation_scale))
    v = min(1.0, max(0.0, v * value_scale))
    return colorsys.hsv_to_rgb(h, s, v)


def kelvin_to_linear_rgb(kelvin: float) -> tuple[float, float, float]:
    """Approximate black-body colour (Tanner Helland's fit), normalised so the max channel is 1.

    Good to a few percent over 1000–20000 K, which is all a light's tint needs.
    """
    t = kelvin / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
        b = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0
    srgb = tuple(min(255.0, max(0.0, c)) / 255.0 for c in (r, g, b))
    lin = srgb_to_linear(srgb)  # type: ignore[arg-type]
    peak = max(lin)
    return tuple(c / peak for c in lin)  # type: ignore[return-value]
