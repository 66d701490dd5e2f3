"""OpenCV pinhole camera → Blender camera parameters (bpy-free, so it can be unit-tested).

Pixel convention: pixel (row i, col j) covers [j, j+1) × [i, i+1) in continuous image
coordinates and its centre is (j + 0.5, i + 0.5); a centred camera has cx = W/2, cy = H/2.
This is Blender's own convention, verified in tests/test_render_blender.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# OpenCV camera axes (+X right, +Y down, +Z forward) → Blender camera axes (+X right, +Y up,
# looking down -Z): flip Y and Z.
CV_TO_BLENDER_CAM = np.diag([1.0, -1.0, -1.0, 1.0])

SENSOR_WIDTH_MM = 36.0
MIN_LENS_MM = 1.0  # Blender's hard minimum for Camera.lens: a shorter one is clamped without a word


@dataclass(frozen=True)
class BlenderCameraParams:
    """Everything needed to set a Blender camera datablock and the render resolution."""

    matrix_world: np.ndarray  # 4×4 Blender camera → world
    lens_mm: float
    sensor_width_mm: float
    sensor_fit: str
    shift_x: float
    shift_y: float
    resolution_x: int
    resolution_y: int
    clip_start: float
    clip_end: float


def blender_camera_params(
    K: np.ndarray,
    world_to_camera: np.ndarray,
    width: int,
    height: int,
    clip_start: float,
    clip_end: float,
) -> BlenderCameraParams:
    """Convert intrinsics + OpenCV extrinsics to Blender camera settings.

    Sensor fit is forced to HORIZONTAL so the sensor width always maps to the image width
    (AUTO would switch to the vertical side for portrait images). Blender's shift is measured in
    units of the *sensor-fit* side — with HORIZONTAL fit that is the image width, for portrait
    images too (verified: dividing by max(W, H) is wrong for portrait) — and a positive shift
    moves the view window right/up, i.e. the principal point moves left/down in the image:
    shift_x = (W/2 - cx) / W, shift_y = (cy - H/2) / W.
    """
    K = np.asarray(K, dtype=np.float64)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if abs(fx - fy) > 1e-6 * abs(fx):
        raise ValueError(f"fx must equal fy (square pixels); got fx={fx}, fy={fy}")
    cam_to_world_cv = np.linalg.inv(np.asarray(world_to_camera, dtype=np.float64))
    matrix_world = cam_to_world_cv @ CV_TO_BLENDER_CAM
    fit_side = float(width)  # sensor_fit HORIZONTAL
    return BlenderCameraParams(
        matrix_world=matrix_world,
        lens_mm=float(fx * SENSOR_WIDTH_MM / width),
        sensor_width_mm=SENSOR_WIDTH_MM,
        sensor_fit="HORIZONTAL",
        shift_x=float((width / 2.0 - cx) / fit_side),
        shift_y=float((cy - height / 2.0) / fit_side),
        resolution_x=int(width),
        resolution_y=int(height),
        clip_start=float(clip_start),
        clip_end=float(clip_end),
    )
