"""Camera randomizers: rules + rng → a pinhole `Camera` in OpenCV axes.

Three kinds cover the domains we ship:
- `top_down`: a hand-held phone above a target, mostly looking straight down (dice, parts);
- `orbit`: look-at sampling on a (hemi)sphere around a target (shelves, belts, oblique crops);
- `satellite`: nadir or slightly off-nadir imaging at a sampled ground sample distance.
With roll 0, image up is north (world +Y) for `top_down` and `satellite` cameras at any tilt, and
an `orbit` camera keeps the ground nearest it at the image's bottom.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from scenesmith.procedural.description import Camera
from scenesmith.procedural.params import Angle, Length, PositiveLength, Rule, number


class DepthOfFieldRule(Rule):
    """Thin-lens blur, focused on the camera target."""

    f_stop: number(minimum=0.5, maximum=64)
    focus_offset_m: number() = 0.0  # added to the distance to the target


class CameraCommon(Rule):
    target_m: tuple[number(), number(), number()] = (0.0, 0.0, 0.0)
    target_jitter_m: Length = 0.0
    roll_deg: Angle = 0.0
    depth_of_field: DepthOfFieldRule | None = None


class TopDownCameraRule(CameraCommon):
    """A hand-held phone over a surface: mostly top-down, with tilt, roll and framing jitter.

    `height_m` is the distance to the target along the line of sight (the height when untilted):
    a tilt then changes the view's angle, not the scale of the target.
    """

    kind: Literal["top_down"]
    height_m: PositiveLength
    horizontal_fov_deg: number(minimum=1, maximum=170)
    tilt_deg: number(minimum=0, maximum=80) = 0.0
    tilt_azimuth_deg: Angle = 0.0


class OrbitCameraRule(CameraCommon):
    """Look-at sampling on a sphere around the target: distance, elevation above the horizon, azimuth."""

    kind: Literal["orbit"]
    distance_m: PositiveLength
    elevation_deg: number(minimum=-89, maximum=90)
    azimuth_deg: Angle = {"uniform": [0, 360]}
    horizontal_fov_deg: number(minimum=1, maximum=170)


class SatelliteCameraRule(CameraCommon):
    """Earth observation: height follows from the ground sample distance (m/px) and the field of view."""

    kind: Literal["satellite"]
    gsd_m: PositiveLength
    horizontal_fov_deg: number(minimum=0.01, maximum=60) = 2.0
    off_nadir_deg: number(minimum=0, maximum=45) = 0.0
    off_nadir_azimuth_deg: Angle = {"uniform": [0, 360]}


CameraRule = TopDownCameraRule | OrbitCameraRule | SatelliteCameraRule


def nearest_distance_m(rule: CameraRule, width: int) -> float:
    """The least distance to the target any draw of `rule` gives at `width` pixels (a satellite's
    follows from its GSD), so a focus offset can be checked over every draw when the rules load."""
    if isinstance(rule, TopDownCameraRule):
        return rule.height_m.support()[0]
    if isinstance(rule, OrbitCameraRule):
        return rule.distance_m.support()[0]
    widest = rule.horizontal_fov_deg.support()[1]
    return rule.gsd_m.support()[0] * width / (2 * math.tan(math.radians(widest) / 2))


def intrinsics(width: int, height: int, horizontal_fov_deg: float) -> np.ndarray:
    """Square pixels, principal point at the image centre."""
    fx = (width / 2.0) / math.tan(math.radians(horizontal_fov_deg) / 2.0)
    return np.array([[fx, 0.0, width / 2.0], [0.0, fx, height / 2.0], [0.0, 0.0, 1.0]])


def look_at(position: np.ndarray, target: np.ndarray, image_down_hint: np.ndarray) -> np.ndarray:
    """World→camera (4×4, OpenCV axes) for a camera at `position` looking at `target`."""
    z = target - position
    z = z / np.linalg.norm(z)
    y = image_down_hint - np.dot(image_down_hint, z) * z
    if np.linalg.norm(y) < 1e-9:
        raise ValueError("image_down_hint is parallel to the viewing direction")
    y = y / np.linalg.norm(y)
    x = np.cross(y, z)
    rotation = np.stack([x, y, z])
    world_to_camera = np.eye(4)
    world_to_camera[:3, :3] = rotation
    world_to_camera[:3, 3] = -rotation @ position
    return world_to_camera


def _direction(elevation: float, azimuth: float) -> np.ndarray:
    """Unit vector from the target towards the camera; azimuth clockwise from +Y towards +X."""
    return np.array(
        [
            math.cos(elevation) * math.sin(azimuth),
            math.cos(elevation) * math.cos(azimuth),
            math.sin(elevation),
        ]
    )


def _down_hint(elevation: float, azimuth: float, roll: float, north_up: bool) -> np.ndarray:
    """Which world direction the image's down axis takes, before and then after `roll`.

    `north_up` (satellites, and `top_down`, whose tilt stops at 80°): world −Y, so image up is
    north (as earth-observation tiles come; a belt laid along x or y stays level in the picture).
    Otherwise (`orbit`) the ground nearest the camera is at the bottom, as an orbiting camera keeps
    the horizon level: gravity seen from the camera, scaled to stay defined looking straight down.
    Either way the view turns smoothly with tilt: `top_down` used to switch from north-up to gravity
    at 25.8° tilt, turning the picture by up to half a turn there.
    """
    if north_up:
        base = np.array([0.0, -1.0, 0.0])
    else:
        base = np.array(
            [
                math.sin(elevation) * math.sin(azimuth),
                math.sin(elevation) * math.cos(azimuth),
                -math.cos(elevation),
            ]
        )
    axis = -_direction(elevation, azimuth)  # optical axis
    # Rodrigues rotation of the hint about the optical axis by `roll`.
    return (
        base * math.cos(roll)
        + np.cross(axis, base) * math.sin(roll)
        + axis * np.dot(axis, base) * (1 - math.cos(roll))
    )


def sample_camera(
    rule: CameraRule, rng: np.random.Generator, resolution: tuple[int, int]
) -> tuple[Camera, dict[str, Any]]:
    width, height = resolution
    factors: dict[str, Any] = {}
    target = np.array([t.sample(rng) for t in rule.target_m])
    jitter, jitter_angle = rule.target_jitter_m.sample(rng), rng.uniform(0, 2 * math.pi)
    target = target + jitter * np.array([math.cos(jitter_angle), math.sin(jitter_angle), 0.0])
    roll = math.radians(rule.roll_deg.sample(rng))
    if isinstance(rule, TopDownCameraRule):
        fov = rule.horizontal_fov_deg.sample(rng)
        distance = rule.height_m.sample(rng)
        tilt = math.radians(rule.tilt_deg.sample(rng))
        azimuth = math.radians(rule.tilt_azimuth_deg.sample(rng))
        elevation = math.pi / 2 - tilt
        factors |= {
            "height_m": distance,
            "tilt_deg": math.degrees(tilt),
            "tilt_azimuth_deg": math.degrees(azimuth),
        }
    elif isinstance(rule, OrbitCameraRule):
        fov = rule.horizontal_fov_deg.sample(rng)
        distance = rule.distance_m.sample(rng)
        elevation = math.radians(rule.elevation_deg.sample(rng))
        azimuth = math.radians(rule.azimuth_deg.sample(rng))
        factors |= {
            "distance_m": distance,
            "elevation_deg": math.degrees(elevation),
            "azimuth_deg": math.degrees(azimuth),
        }
    else:
        fov = rule.horizontal_fov_deg.sample(rng)
        gsd = rule.gsd_m.sample(rng)
        distance = gsd * width / (2 * math.tan(math.radians(fov) / 2))
        off_nadir = math.radians(rule.off_nadir_deg.sample(rng))
        azimuth = math.radians(rule.off_nadir_azimuth_deg.sample(rng))
        elevation = math.pi / 2 - off_nadir
        factors |= {
            "gsd_m": gsd,
            "distance_m": distance,  # along the line of sight: the range the gsd is measured at
            "height_m": distance * math.cos(off_nadir),  # above the target
            "off_nadir_deg": math.degrees(off_nadir),
            "off_nadir_azimuth_deg": math.degrees(azimuth),
        }
    position = target + distance * _direction(elevation, azimuth)
    f_stop = focus = None
    if rule.depth_of_field is not None:
        f_stop = rule.depth_of_field.f_stop.sample(rng)
        focus = distance + rule.depth_of_field.focus_offset_m.sample(rng)
        factors |= {"f_stop": f_stop, "focus_distance_m": focus}
    camera = Camera(
        width=width,
        height=height,
        K=intrinsics(width, height, fov),
        world_to_camera=look_at(
            position, target, _down_hint(elevation, azimuth, roll, not isinstance(rule, OrbitCameraRule))
        ),
        clip_start=max(0.001, min(0.01, distance / 100)),
        clip_end=max(100.0, distance * 10),
        f_stop=f_stop,
        focus_distance=focus,
    )
    factors |= {
        "horizontal_fov_deg": fov,
        "roll_deg": math.degrees(roll),
        "target_jitter_m": jitter,
        "target_m": [float(v) for v in target],  # where the camera looks, jitter included
    }
    return camera, factors
