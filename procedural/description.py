"""Plain-data scene description: the contract between `procedural` and every later stage.

Nothing here knows about Blender. A description can be built, pickled, inspected and tested
without `bpy`; the renderer only *realizes* it (Kubric's split between scene objects and the
renderer). All geometry is in metres, in a right-handed world frame with +Z up.

Camera conventions are OpenCV's (+X right, +Y down, +Z forward) because that is what the labels
are published in; the renderer converts to Blender's camera axes itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

import numpy as np
import trimesh

# 'marble' (distorted noise, a soft cloudy mix), 'swirl' (thin sharp veins of the secondary colour:
# swirled acrylic), 'noise' (soft blotches), 'wood' (rings), 'speckle' (fine dots: felt, concrete, soil),
# 'stripes' (painted markings). The one list that the rules schema and the render checks read.
PatternName = Literal["marble", "swirl", "noise", "wood", "speckle", "stripes"]
PATTERNS: tuple[str, ...] = get_args(PatternName)


@dataclass(frozen=True)
class Material:
    """Procedural PBR material parameters (linear RGB, 0..1)."""

    name: str
    base_color: tuple[float, float, float]
    roughness: float = 0.5
    metallic: float = 0.0
    specular: float = 0.5
    transmission: float = 0.0
    coat: float = 0.0
    # Procedural pattern mixing `secondary_color` into the base colour: 0 = flat colour.
    pattern_strength: float = 0.0
    pattern_scale: float = 30.0
    secondary_color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pattern: PatternName = "marble"  # see PATTERNS
    # Wear and dirt, 0..1: darker, rougher grime in a noise mask (and on edges for wear).
    dirt: float = 0.0
    wear: float = 0.0
    # Optional image (H×W×3 uint8, sRGB) mapped through the object's UVs (`SceneObject.uv`);
    # it replaces base_color where given (printed labels, logos, markings).
    texture: np.ndarray | None = field(default=None, compare=False)


@dataclass
class SceneObject:
    """One labelled (or unlabelled) instance.

    `mesh` is in the object's own frame; `pose` maps object → world (4×4). `face_materials[i]`
    indexes `materials` for face i, so a die and its pips are one object with one instance id.
    """

    instance_id: int
    name: str
    mesh: trimesh.Trimesh
    face_materials: np.ndarray
    materials: list[Material]
    pose: np.ndarray
    category_id: int | None = None
    category: str | None = None
    # Labelled objects with `iscrowd` set are published but marked ignore (e.g. a tilted die).
    iscrowd: bool = False
    physical: dict[str, float] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    # Per face-corner UV coordinates (F×3×2, 0..1), needed by textured materials.
    uv: np.ndarray | None = None
    # Smooth shading (curved surfaces: bottles, fuselages); flat for boxes and dice.
    smooth: bool = False
    # Extra published geometry in the object frame, e.g. {"grasps": [{"position", "normal"}...]}.
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def world_mesh(self) -> trimesh.Trimesh:
        return self.mesh.copy().apply_transform(self.pose)


@dataclass
class Camera:
    """Pinhole camera: intrinsics K (pixels) and world→camera extrinsics in OpenCV axes."""

    width: int
    height: int
    K: np.ndarray  # 3×3
    world_to_camera: np.ndarray  # 4×4, OpenCV axes
    clip_start: float = 0.01
    clip_end: float = 100.0
    # Depth of field: None = pinhole (everything sharp).
    f_stop: float | None = None
    focus_distance: float | None = None

    @property
    def camera_to_world(self) -> np.ndarray:
        return np.linalg.inv(self.world_to_camera)

    def resized(self, long_side: int) -> Camera:
        """The same view with `long_side` pixels on its long side (at least 8 on each), for a preview:
        it renders the scene built for the dataset's size, so everything placed in view (physics,
        satellite ranges) is where the dataset has it. One scale for both axes (pixels stay square, as
        Blender's camera needs) about the image centre: where a side rounds, the view gains or loses
        under half a pixel at its edges."""
        scale = long_side / max(self.width, self.height)
        width, height = max(8, round(self.width * scale)), max(8, round(self.height * scale))
        K = np.asarray(self.K, float).copy()
        K[:2, :2] *= scale
        K[0, 2] = width / 2 + scale * (K[0, 2] - self.width / 2)
        K[1, 2] = height / 2 + scale * (K[1, 2] - self.height / 2)
        return replace(self, width=width, height=height, K=K)

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N×3) → (pixel coords N×2 in continuous image coords, depth Z N)."""
        homog = np.c_[points_world, np.ones(len(points_world))]
        cam = (self.world_to_camera @ homog.T).T[:, :3]
        z = cam[:, 2]
        uv = (self.K @ cam.T).T
        with np.errstate(divide="ignore", invalid="ignore"):
            pix = uv[:, :2] / uv[:, 2:3]
        return pix, z


@dataclass(frozen=True)
class Light:
    """A light in world space. `power` is watts for point/area, W/m² (strength) for sun."""

    kind: Literal["point", "area", "sun"]
    position: tuple[float, float, float]
    direction: tuple[float, float, float]  # unit vector the light points along
    power: float
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    size: float = 0.1  # area side length (m) / point radius (m) / sun angle (rad)


@dataclass(frozen=True)
class Sky:
    """Physical daylight sky; the sun position is computed in `procedural` (date, time, latitude)."""

    sun_elevation: float  # radians above the horizon
    sun_azimuth: float  # radians, clockwise from world +Y (north) towards +X (east)
    strength: float = 1.0
    # Atmosphere: 0 = perfectly clear; 1 = hazy. Maps to the renderer's air/aerosol settings.
    haze: float = 0.2
    # Apparent angular diameter of the sun (radians): the softness of its shadows. The renderer
    # adds the sun itself (a sun lamp whose power and colour follow from elevation and haze).
    sun_angle: float = 0.00925


@dataclass(frozen=True)
class World:
    """Environment light: a uniform colour, or a physical sky when `sky` is set."""

    color: tuple[float, float, float]
    strength: float
    sky: Sky | None = None


@dataclass(frozen=True)
class SensorEffects:
    """Camera sensor/optics applied to the RGB after rendering (labels are unaffected)."""

    noise_std: float = 0.0  # Gaussian read noise, in 0..1 intensity units
    blur_sigma_px: float = 0.0  # optical blur
    chromatic_aberration_px: float = 0.0  # red/blue channel radial shift at the image corner
    vignetting: float = 0.0  # 0..1 darkening at the corners
    jpeg_quality: int | None = None  # re-encode through JPEG at this quality
    exposure_ev: float = 0.0  # multiply linear-ish intensity by 2**ev before the others
    # Camera shake / subject motion: a linear blur of this length (pixels) along this angle.
    motion_blur_px: float = 0.0
    motion_blur_angle_deg: float = 0.0
    # Per-channel gains of an imperfect auto white balance (1, 1, 1 = neutral).
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # Auto exposure: scale light so the mean grey level (0..1, display) reaches this; None = off.
    auto_exposure_target: float | None = None


@dataclass
class SceneDescription:
    """Everything needed to render one image and label it, as plain data."""

    scene_name: str
    image_index: int
    seed: int
    camera: Camera
    objects: list[SceneObject]
    lights: list[Light]
    world: World
    categories: list[dict[str, Any]]
    # Every sampled factor (flat key → JSON-serialisable value), published in meta for analysis.
    factors: dict[str, Any] = field(default_factory=dict)
    sensor: SensorEffects = field(default_factory=SensorEffects)

    @property
    def labelled_objects(self) -> list[SceneObject]:
        return [o for o in self.objects if o.category_id is not None]

    def object_by_instance(self, instance_id: int) -> SceneObject:
        for obj in self.objects:
            if obj.instance_id == instance_id:
                return obj
        raise KeyError(instance_id)
