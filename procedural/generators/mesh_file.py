"""Bring your own mesh: GLB/GLTF/OBJ/STL/PLY/OFF files loaded with trimesh, placed by the same rules.

The file is read once per process (cached) and checked when the scene is validated, so a missing
or unreadable file is a scene-rule error, not a failure mid-render. A relative `path` is relative
to the scene file that names it. Objects rest in one of trimesh's stable poses on a flat support
(drawn by its probability), or upright as modelled.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import numpy as np
import trimesh
from pydantic import field_validator, model_validator

from scenesmith.procedural.params import Rule, choice_of, number
from scenesmith.procedural.registry import Generated, GeneratorSpec, register

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".stl", ".ply", ".off")


class MeshFileParams(Rule):
    path: str
    # Multiply the file's units to get metres (e.g. 0.001 for a model in millimetres).
    scale: number(minimum=1e-6, maximum=1e6) = 1.0
    up_axis: Literal["z", "y"] = "z"
    rest: choice_of("stable", "upright") = "stable"

    @field_validator("path")
    @classmethod
    def _readable_mesh(cls, path: str) -> str:
        if not path.lower().endswith(MESH_SUFFIXES):
            suffixes = ", ".join(MESH_SUFFIXES)
            raise ValueError(f"expected a mesh file ending in one of {suffixes}, got {path!r}")
        if not Path(path).is_file():
            raise ValueError(f"mesh file not found: {path}")
        load_mesh(path)
        return path

    @model_validator(mode="after")
    def _stable_rest_needs_volume(self) -> MeshFileParams:
        """Find the poses now, so a mesh that has none fails when the rules load, naming the key."""
        if "stable" in getattr(self.rest, "values", (getattr(self.rest, "value", None),)):
            stable_poses(self.path, self.up_axis)
        return self


@functools.lru_cache(maxsize=64)
def load_mesh(path: str) -> trimesh.Trimesh:
    """The file as one mesh (scenes flattened), centred on its footprint; errors become ValueError."""
    try:
        loaded = trimesh.load(path, force="mesh", process=True)
    except Exception as exc:  # trimesh raises many types for bad files; the user needs one message
        raise ValueError(f"cannot read mesh file {path}: {exc}") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ValueError(f"mesh file {path} holds no triangles")
    return loaded


@functools.lru_cache(maxsize=64)
def stable_poses(path: str, up_axis: str) -> tuple[np.ndarray, np.ndarray]:
    """trimesh's stable poses, or ValueError for a flat mesh. Why the check: with no volume the centre
    of mass is NaN and trimesh's pose search never ends. The volume's sign only says which way the
    faces wind (inside-out exports are common), so its size is what counts."""
    mesh = _oriented(path, up_axis)
    with np.errstate(invalid="ignore", divide="ignore"):  # the flat case divides by a zero volume
        if (
            not abs(mesh.volume) > 1e-9 * float(np.prod(mesh.extents))
            or not np.isfinite(mesh.center_mass).all()
        ):
            raise ValueError(
                f"mesh file {path} is flat (no volume), so it has no stable pose: use rest: upright"
            )
    transforms, probabilities = trimesh.poses.compute_stable_poses(mesh, n_samples=1, threshold=0.0)
    return np.asarray(transforms), np.asarray(probabilities, float)


def _oriented(path: str, up_axis: str) -> trimesh.Trimesh:
    mesh = load_mesh(path).copy()
    if up_axis == "y":  # glTF and many DCC exports are Y-up
        mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    return mesh


def make_mesh_file(params: MeshFileParams, rng: np.random.Generator) -> Generated:
    """Objects loaded from a mesh file (one material slot, 'body')."""
    scale = params.scale.sample(rng)
    mesh = _oriented(params.path, params.up_axis)
    mesh.apply_scale(scale)
    rest = np.eye(3)
    rest_mode = params.rest.sample(rng)
    if rest_mode == "stable":
        transforms, probabilities = stable_poses(params.path, params.up_axis)
        if len(transforms):
            choice = int(rng.choice(len(transforms), p=probabilities / probabilities.sum()))
            rest = transforms[choice][:3, :3]
    return Generated(
        mesh=mesh,
        face_materials=np.zeros(len(mesh.faces), np.int32),
        slots=("body",),
        volume=float(mesh.volume) if mesh.is_watertight else None,
        rest_rotation=rest,
        smooth=True,
        attributes={"mesh_file": Path(params.path).name, "scale": scale, "rest": rest_mode},
    )


register(GeneratorSpec(name="mesh_file", params=MeshFileParams, make=make_mesh_file, slots=("body",)))
