"""Camera randomizer: a hand-held phone above a target, mostly looking straight down.

Produces a pinhole `Camera` in OpenCV axes. Roll is measured about the optical axis; with roll 0
and no tilt, image up is world +Y and image right is world +X.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scenesmith.procedural.description import Camera
from scenesmith.procedural.rules import TopDownCameraRule


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


def sample_top_down_camera(
    rule: TopDownCameraRule,
    rng: np.random.Generator,
    resolution: tuple[int, int],
    target_centre: np.ndarray,
) -> tuple[Camera, dict[str, Any]]:
    width, height = resolution
    fov = rule.horizontal_fov_deg.sample(rng)
    cam_height = rule.height_m.sample(rng)
    tilt = math.radians(rule.tilt_deg.sample(rng))
    azimuth = math.radians(rule.tilt_azimuth_deg.sample(rng))
    roll = math.radians(rule.roll_deg.sample(rng))
    jitter = rule.target_jitter_m.sample(rng)
    jitter_angle = rng.uniform(0, 2 * math.pi)

    target = np.asarray(target_centre, float) + jitter * np.array(
        [math.cos(jitter_angle), math.sin(jitter_angle), 0]
    )
    direction = np.array(
        [math.sin(tilt) * math.cos(azimuth), math.sin(tilt) * math.sin(azimuth), math.cos(tilt)]
    )
    position = target + cam_height * direction
    down_hint = np.array([math.sin(roll), -math.cos(roll), 0.0])
    camera = Camera(
        width=width,
        height=height,
        K=intrinsics(width, height, fov),
        world_to_camera=look_at(position, target, down_hint),
        clip_start=0.01,
        clip_end=100.0,
    )
    factors = {
        "horizontal_fov_deg": fov,
        "height_m": cam_height,
        "tilt_deg": math.degrees(tilt),
        "tilt_azimuth_deg": math.degrees(azimuth),
        "roll_deg": math.degrees(roll),
        "target_jitter_m": jitter,
    }
    return camera, factors


def ground_footprint_half_extent(camera: Camera, plane_z: float = 0.0) -> tuple[float, float]:
    """Half-size of the axis-aligned rectangle the camera sees on the plane z = plane_z (top-down)."""
    c2w = camera.camera_to_world
    corners = np.array([[0, 0], [camera.width, 0], [0, camera.height], [camera.width, camera.height]], float)
    rays = (np.linalg.inv(camera.K) @ np.c_[corners, np.ones(4)].T).T @ c2w[:3, :3].T
    origin = c2w[:3, 3]
    t = (plane_z - origin[2]) / rays[:, 2]
    hits = origin + t[:, None] * rays
    return float(np.ptp(hits[:, 0]) / 2), float(np.ptp(hits[:, 1]) / 2)
