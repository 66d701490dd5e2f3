"""Plug-in registries: generators, surfaces and placement methods (Unity Perception's roles).

A plug-in is a module in `procedural/generators/`, `procedural/surfaces/` or
`procedural/placements/` that calls `register(...)` at import. `load_plugins()` imports every
module of those packages, so adding a generator means adding one file: no central list to edit,
and the scene-file schema (a tagged union over the registered names) picks it up.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trimesh

from scenesmith.procedural.description import Camera, SceneObject
from scenesmith.procedural.params import Rule

# REVISIONS: a plug-in's `revision` counts the changes to it since `build.BUILD_VERSION` last moved
# that make the same rules and seed build another scene. Bump it (not BUILD_VERSION) when a fix
# touches one plug-in: only datasets of rules that use it get a new identity and cache name, and sets
# other rules made (a benchmark's, say) stay valid. Code several plug-ins share (`pack.occupied_discs`
# in `edge`, `rows.SurfaceTop` in `physics`, `vertical.crossings`, the plant builder, `turned.lathe`)
# is theirs too: a change to it that alters what one of them builds bumps each such one, or
# BUILD_VERSION. Reset them all to 0 when BUILD_VERSION moves.
PLUGIN_PACKAGES = (
    "scenesmith.procedural.generators",
    "scenesmith.procedural.surfaces",
    "scenesmith.procedural.placements",
)


@dataclass
class Generated:
    """One object made by a generator, in its own frame, before placement and materials.

    `rest_rotation` turns the mesh into the pose it naturally rests in on a flat support (before a
    random yaw). `up_faces`, when given, decides the category after placement: the face whose
    outward normal (object frame) is within `up_tolerance_deg` of world up names the category;
    if none is, the object is published as `iscrowd` (ignore), with the face closest to up as its
    category: a best guess that evaluation and training must not trust.
    """

    mesh: trimesh.Trimesh
    face_materials: np.ndarray
    slots: tuple[str, ...]
    volume: float | None = None
    rest_rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    category: str | None = None
    up_faces: list[tuple[tuple[float, float, float], str]] | None = None
    up_tolerance_deg: float = 15.0
    uv: np.ndarray | None = None
    smooth: bool = False
    textures: dict[str, np.ndarray] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    # What physics collides with, as its convex hull, when that is not the mesh's own hull (a die
    # collides as its body grown to the pip tops, not on its pips). Not published in the description.
    collision_mesh: trimesh.Trimesh | None = None


@dataclass(frozen=True)
class GeneratorSpec:
    """A mesh generator: `make(params, rng) -> Generated`, a pure function of its inputs."""

    name: str
    params: type[Rule]
    make: Callable[[Any, np.random.Generator], Generated]
    slots: tuple[str, ...]
    # Categories the generator itself may assign (e.g. dice faces), or a function of the params
    # giving them (a lathed object's class is its shape); None = the group's category.
    categories: tuple[str, ...] | Callable[[Any], tuple[str, ...]] | None = None
    revision: int = 0  # see REVISIONS above

    def categories_of(self, params: Any) -> tuple[str, ...] | None:
        """The categories objects made with `params` may get when their group sets none."""
        return self.categories(params) if callable(self.categories) else self.categories


@dataclass
class Support:
    """A flat region objects can rest on: `pose` puts its centre on the surface with +Z up."""

    name: str
    pose: np.ndarray
    half_extent: tuple[float, float]
    # True for large supports (table, ground) where placement should stay within the camera view.
    limit_to_view: bool = False
    # True when the surface has relief (a field's soil) rather than lying flat at z = 0: placements that
    # judge a resting object measure its height against the surface mesh under it, not the plane.
    relief: bool = False


@dataclass
class SurfaceResult:
    objects: list[SceneObject]
    supports: list[Support]
    factors: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SurfaceSpec:
    """A support structure (table, tray, belt, shelf, field, apron): `build(rule, rng, name)`."""

    name: str
    rule: type[Rule]
    build: Callable[[Any, np.random.Generator, str], SurfaceResult]
    revision: int = 0  # see REVISIONS above


@dataclass
class PlacementContext:
    """What a placement method may look at: supports, camera, and objects already placed."""

    supports: dict[str, Support]
    camera: Camera
    placed: list[SceneObject]
    # Scratch space for placement methods, alive for one scene (e.g. physics keeps the collision
    # pieces of objects placed earlier here instead of rebuilding them for every group).
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Placement:
    """Where one object ended up: object→world pose and the support it rests on, and its mesh (object
    frame) when placement reshaped it to fit there (leaves laid over uneven soil); None keeps the
    generator's mesh. A reshaped mesh keeps the generator's vertex and face order, so its materials
    and UVs still apply."""

    pose: np.ndarray
    support: str
    mesh: trimesh.Trimesh | None = None


@dataclass(frozen=True)
class PlacementSpec:
    """Pose objects: `place(rule, rng, generated, context) -> [Placement or None (didn't fit)]`."""

    name: str
    rule: type[Rule]
    place: Callable[[Any, np.random.Generator, list[Generated], PlacementContext], list[Placement | None]]
    revision: int = 0  # see REVISIONS above


GENERATORS: dict[str, GeneratorSpec] = {}
SURFACES: dict[str, SurfaceSpec] = {}
PLACEMENTS: dict[str, PlacementSpec] = {}


def register(spec: GeneratorSpec | SurfaceSpec | PlacementSpec) -> None:
    table: dict[str, Any] = {GeneratorSpec: GENERATORS, SurfaceSpec: SURFACES, PlacementSpec: PLACEMENTS}[
        type(spec)
    ]
    if spec.name in table and table[spec.name] is not spec:
        raise ValueError(f"{type(spec).__name__} {spec.name!r} registered twice")
    table[spec.name] = spec


def load_plugins() -> None:
    """Import every plug-in module once (idempotent)."""
    for package_name in PLUGIN_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package_name}.{module.name}")
