"""Bring your own mesh: GLB/GLTF/OBJ/STL/PLY/OFF files loaded with trimesh, placed by the same rules.

The file is read once per process (cached until it changes) and checked when the scene is
validated, so a missing or unreadable file is a scene-rule error, not a failure mid-render. A
relative `path` is relative to the scene file that names it. The dataset identity (rules hash)
covers the file's bytes and its place relative to the scene, not its absolute path. Objects rest in
one of trimesh's stable poses on a flat support (drawn by its probability), or upright as modelled.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Literal

import numpy as np
import trimesh
from pydantic import SerializationInfo, field_serializer, field_validator, model_validator

from scenesmith.procedural.params import Rule, choice_of, number
from scenesmith.procedural.registry import Generated, GeneratorSpec, register

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".stl", ".ply", ".off")
# Serialisation context key: the scene's folder, given when the rules are dumped as a dataset identity.
IDENTITY_DIR = "identity_dir"


class MeshFileParams(Rule):
    path: str
    # Multiply the file's units to get metres (e.g. 0.001 for a model in millimetres).
    scale: number(minimum=1e-6, maximum=1e6) = 1.0
    up_axis: Literal["z", "y"] = "z"
    rest: choice_of("stable", "upright") = "stable"

    @field_validator("path", mode="before")
    @classmethod
    def _text_only(cls, path: object) -> object:
        """Only text is a path (strict): pydantic's lax mode would decode YAML `!!binary` bytes into
        one, which no check of the text paths a scene names (the API's data-root confinement) sees."""
        if not isinstance(path, str):
            raise ValueError(f"expected a mesh file path as text, got {type(path).__name__}")
        return path

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

    @field_serializer("path")
    def _dump_path(self, path: str, info: SerializationInfo) -> str | dict[str, str]:
        """The path; in a dataset identity (`IDENTITY_DIR` in the context), where the file lies from
        the scene's folder and the sha256 of its bytes instead.

        Why: the absolute path made one project in two folders two datasets (resume refused, caches
        missed), and kept an overwritten file the same one (a resumed run mixed old and new objects).
        """
        scene_dir = (info.context or {}).get(IDENTITY_DIR)
        if scene_dir is None:
            return path
        with open(path, "rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        return {"file": Path(os.path.relpath(path, scene_dir)).as_posix(), "sha256": digest}

    @model_validator(mode="after")
    def _stable_rest_needs_volume(self) -> MeshFileParams:
        """Find the poses now, so a mesh that has none fails when the rules load, naming the key."""
        if "stable" in getattr(self.rest, "values", (getattr(self.rest, "value", None),)):
            stable_poses(self.path, self.up_axis)
        return self


def _file_state(path: str) -> tuple[int, int]:
    """(mtime, size) of the file, a key of the caches below.

    Why: a long-lived process (the API server) must read a mesh file anew once it is overwritten, as
    the rules hash (which covers its bytes) already names a new dataset; the old copy would be
    built into it, and a resume in a new process would add objects of the new file.
    """
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise ValueError(f"cannot read mesh file {path}: {exc.strerror}") from None
    return stat.st_mtime_ns, stat.st_size


def load_mesh(path: str) -> trimesh.Trimesh:
    """The file as one mesh (scenes flattened), centred on its footprint; errors become ValueError."""
    return _load_mesh(path, _file_state(path))


@functools.lru_cache(maxsize=64)
def _load_mesh(path: str, _state: tuple[int, int]) -> trimesh.Trimesh:
    try:
        loaded = trimesh.load(path, force="mesh", process=True)
    except Exception as exc:  # trimesh raises many types for bad files; the user needs one message
        raise ValueError(f"cannot read mesh file {path}: {exc}") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ValueError(f"mesh file {path} holds no triangles")
    return loaded


def stable_poses(path: str, up_axis: str) -> tuple[np.ndarray, np.ndarray]:
    """trimesh's stable poses, or ValueError for a flat mesh. Why the check: with no volume the centre
    of mass is NaN and trimesh's pose search never ends. The volume's sign only says which way the
    faces wind (inside-out exports are common), so its size is what counts."""
    return _stable_poses(path, up_axis, _file_state(path))


@functools.lru_cache(maxsize=64)
def _stable_poses(path: str, up_axis: str, _state: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
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
        # abs: an inside-out export (common, see stable_poses) has a negative signed volume, which made
        # a negative mass in the labels and a 1 mg body in physics
        volume=abs(float(mesh.volume)) if mesh.is_watertight else None,
        rest_rotation=rest,
        smooth=True,
        attributes={"mesh_file": Path(params.path).name, "scale": scale, "rest": rest_mode},
    )


register(GeneratorSpec(name="mesh_file", params=MeshFileParams, make=make_mesh_file, slots=("body",)))
