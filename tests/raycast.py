"""Independent reference labels for tests: a ray through each pixel centre, cast with trimesh.

This is the documented definition of "the object a pixel belongs to", computed without Blender and
without the annotate rasterizer. trimesh uses embree when it is installed (the test extra).
"""

from __future__ import annotations

import numpy as np
import trimesh

from scenesmith.procedural.description import SceneDescription

RAY_CHUNK = 256  # a shelf full of products has enough triangles per ray to exhaust memory at once


def ray_cast_instances(desc: SceneDescription) -> np.ndarray:
    """H×W instance id of the first surface hit through each pixel centre (0 where nothing is hit)."""
    combined = trimesh.util.concatenate([obj.world_mesh for obj in desc.objects])
    owner = np.concatenate([np.full(len(obj.mesh.faces), obj.instance_id) for obj in desc.objects])
    cam = desc.camera
    v, u = np.mgrid[0 : cam.height, 0 : cam.width]
    pixels = np.stack([u.ravel() + 0.5, v.ravel() + 0.5, np.ones(u.size)], axis=1)
    directions = (np.linalg.inv(cam.K) @ pixels.T).T @ cam.camera_to_world[:3, :3].T
    origins = np.repeat(cam.camera_to_world[:3, 3][None], len(directions), axis=0)
    hit = np.concatenate(
        [
            combined.ray.intersects_first(origins[i : i + RAY_CHUNK], directions[i : i + RAY_CHUNK])
            for i in range(0, len(directions), RAY_CHUNK)
        ]
    )
    return np.where(hit >= 0, owner[np.maximum(hit, 0)], 0).reshape(cam.height, cam.width)
