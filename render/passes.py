"""What a render returns: plain arrays (BlenderProc-style), consumed by `annotate` writers.

This module must not import `bpy`, so that labelling and tests can use the type without Blender.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class RenderPasses:
    """Per-pixel outputs of one render.

    rgb:      H×W×3 uint8, display-referred with the recorded view transform.
    instance: H×W int32, `SceneObject.instance_id` of the surface hit by the ray through the
              pixel centre; 0 = background (nothing hit, or a support surface). Unlabelled objects
              keep their own ids. Never anti-aliased.
    depth:    H×W float32 planar Z in metres (distance along the camera's +Z axis); NaN where the
              ray hits nothing.
    normal:   H×W×3 float32 unit world-space surface normals; 0 where nothing is hit.
    settings: what was actually used (device, samples, view transform, denoiser, seed, ...).
    timings:  seconds per stage (scene setup, render, read-back).
    """

    rgb: np.ndarray
    instance: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
