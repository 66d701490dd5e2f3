"""Sun position from date, local solar time and latitude (the sky model takes only angles).

Uses the standard declination / hour-angle formulas (accurate to well under a degree, which is
far below what a lighting randomizer needs). Azimuth is clockwise from north (+Y) towards east
(+X), the convention of `procedural.description.Sky`.
"""

from __future__ import annotations

import math


def sun_position(day_of_year: float, solar_hour: float, latitude_deg: float) -> tuple[float, float]:
    """(elevation, azimuth) in radians for a day of the year (1–365), solar time in hours, latitude."""
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365.0)
    hour_angle = math.radians(15.0 * (solar_hour - 12.0))
    latitude = math.radians(latitude_deg)
    sin_elevation = math.sin(latitude) * math.sin(declination) + math.cos(latitude) * math.cos(
        declination
    ) * math.cos(hour_angle)
    elevation = math.asin(max(-1.0, min(1.0, sin_elevation)))
    # Azimuth from north, clockwise; afternoon (hour_angle > 0) is west of south.
    azimuth = math.atan2(
        -math.sin(hour_angle),
        math.tan(declination) * math.cos(latitude) - math.sin(latitude) * math.cos(hour_angle),
    )
    return elevation, azimuth % (2 * math.pi)


def sun_direction(elevation: float, azimuth: float) -> tuple[float, float, float]:
    """Unit vector pointing from the scene towards the sun (world: +X east, +Y north, +Z up)."""
    return (
        math.cos(elevation) * math.sin(azimuth),
        math.cos(elevation) * math.cos(azimuth),
        math.sin(elevation),
    )
