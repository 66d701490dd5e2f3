"""Input checks that run before any bpy call (bpy-free).

Why: a bad description (NaN pose, empty mesh, face material index out of range) would otherwise
surface as an obscure bpy traceback or, worse, a silently wrong image. Every failure here is an
InvalidDescription (a ValueError) naming the offending object.
"""

from __future__ import annotations

import numpy as np

from scenesmith.procedural.description import PATTERNS, Camera, Light, SceneDescription, SceneObject, World
from scenesmith.render.camera import MIN_LENS_MM, SENSOR_WIDTH_MM
from scenesmith.render.sensor import validate_effects

_LIGHT_KINDS = ("point", "area", "sun")

# Blender stores Object.pass_index as a signed 16-bit value: a larger id is silently clamped to this
# (checked in bpy 5.0.1), which would merge objects in the instance pass.
MAX_PASS_INDEX = 32767


def _finite_vec(value: object, n: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be {n} numbers, got {value!r}") from exc
    if arr.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got {arr.tolist()}")
    return arr


def _colour(value: object, what: str) -> None:
    """A linear RGB colour: finite and not negative (Blender clamps a negative channel to 0 silently)."""
    if (_finite_vec(value, 3, what) < 0).any():
        raise ValueError(f"{what} must not be negative, got {np.asarray(value).tolist()}")


def _rigid_pose(pose: object, what: str) -> np.ndarray:
    try:
        arr = np.asarray(pose, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a 4x4 matrix") from exc
    if arr.shape != (4, 4):
        raise ValueError(f"{what} must be 4x4, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains non-finite values")
    if not np.allclose(arr[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
        raise ValueError(f"{what} last row must be [0, 0, 0, 1], got {arr[3].tolist()}")
    if abs(np.linalg.det(arr[:3, :3])) < 1e-12:
        raise ValueError(f"{what} is singular")
    return arr


def validate_camera(cam: Camera) -> None:
    if not (isinstance(cam.width, int | np.integer) and isinstance(cam.height, int | np.integer)):
        raise ValueError(f"camera width/height must be ints, got {cam.width!r}x{cam.height!r}")
    if cam.width < 1 or cam.height < 1 or cam.width > 16384 or cam.height > 16384:
        raise ValueError(f"camera resolution out of range: {cam.width}x{cam.height}")
    K = np.asarray(cam.K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"camera K must be 3x3, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError("camera K contains non-finite values")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]) or abs(K[0, 1]) > 1e-9 or abs(K[1, 0]) > 1e-9:
        raise ValueError(f"camera K must be [[fx,0,cx],[0,fy,cy],[0,0,1]], got {K.tolist()}")
    fx, fy = K[0, 0], K[1, 1]
    if fx <= 0 or fy <= 0:
        raise ValueError(f"camera focal lengths must be positive, got fx={fx}, fy={fy}")
    if fx * SENSOR_WIDTH_MM / cam.width < MIN_LENS_MM:  # Blender would clamp the lens: a narrower view than K
        raise ValueError(
            f"camera fx={fx} is too short for a {cam.width} px wide image: Blender's lens stops at "
            f"{MIN_LENS_MM} mm, so fx must be at least {cam.width * MIN_LENS_MM / SENSOR_WIDTH_MM:g} px "
            "(a horizontal field of view under about 174°)"
        )
    if abs(fx - fy) > 1e-6 * abs(fx):
        raise ValueError(f"camera fx must equal fy (relative 1e-6), got fx={fx}, fy={fy}")
    pose = _rigid_pose(cam.world_to_camera, "camera world_to_camera")
    R = pose[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise ValueError("camera world_to_camera rotation must be a proper rotation")
    if not (np.isfinite(cam.clip_start) and np.isfinite(cam.clip_end) and 0 < cam.clip_start < cam.clip_end):
        raise ValueError(f"camera clip range invalid: {cam.clip_start}..{cam.clip_end}")
    for name in ("f_stop", "focus_distance"):
        v = getattr(cam, name)
        if v is not None and not (np.isfinite(v) and v > 0):
            raise ValueError(f"camera {name} must be None or finite and > 0, got {v}")


def validate_object(obj: SceneObject) -> None:
    what = f"object {obj.name!r} (instance {obj.instance_id})"
    if not isinstance(obj.instance_id, int | np.integer) or not 0 <= int(obj.instance_id) <= MAX_PASS_INDEX:
        raise ValueError(
            f"{what}: instance_id must be an int in [0, {MAX_PASS_INDEX}] (Blender's pass_index), "
            f"got {obj.instance_id!r}"
        )
    mesh = obj.mesh
    verts = np.asarray(getattr(mesh, "vertices", np.empty((0, 3))), dtype=np.float64)
    faces = np.asarray(getattr(mesh, "faces", np.empty((0, 3))))
    if verts.ndim != 2 or verts.shape[1] != 3 or len(verts) == 0:
        raise ValueError(f"{what}: mesh has no vertices")
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise ValueError(f"{what}: mesh has no triangular faces")
    if not np.all(np.isfinite(verts)):
        raise ValueError(f"{what}: mesh vertices contain non-finite values")
    if faces.min() < 0 or faces.max() >= len(verts):
        raise ValueError(f"{what}: mesh faces index out of range")
    fm = np.asarray(obj.face_materials)
    if fm.shape != (len(faces),):
        raise ValueError(f"{what}: face_materials has shape {fm.shape}, expected ({len(faces)},)")
    if len(obj.materials) == 0:
        raise ValueError(f"{what}: needs at least one material")
    if not np.issubdtype(fm.dtype, np.integer) or fm.min() < 0 or fm.max() >= len(obj.materials):
        raise ValueError(f"{what}: face_materials must be ints in [0, {len(obj.materials)})")
    for m in obj.materials:
        _colour(m.base_color, f"{what}: material {m.name!r} base_color")
        _colour(m.secondary_color, f"{what}: material {m.name!r} secondary_color")
        for attr in ("roughness", "metallic", "specular", "transmission", "coat", "pattern_strength"):
            v = getattr(m, attr)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{what}: material {m.name!r} {attr} must be finite and >= 0, got {v}")
        if not np.isfinite(m.pattern_scale):
            raise ValueError(f"{what}: material {m.name!r} pattern_scale must be finite")
        if m.pattern not in PATTERNS:
            raise ValueError(
                f"{what}: material {m.name!r} pattern must be one of {PATTERNS}, got {m.pattern!r}"
            )
        for attr in ("dirt", "wear"):
            v = getattr(m, attr)
            if not (np.isfinite(v) and 0 <= v <= 1):
                raise ValueError(f"{what}: material {m.name!r} {attr} must be in [0, 1], got {v}")
        if m.texture is not None:
            tex = np.asarray(m.texture)
            if tex.dtype != np.uint8 or tex.ndim != 3 or tex.shape[2] != 3 or tex.size == 0:
                raise ValueError(
                    f"{what}: material {m.name!r} texture must be H×W×3 uint8, got {tex.dtype} {tex.shape}"
                )
            if obj.uv is None:
                raise ValueError(f"{what}: material {m.name!r} has a texture but the object has no uv")
    if obj.uv is not None:
        uv = np.asarray(obj.uv)
        if uv.shape != (len(faces), 3, 2):
            raise ValueError(f"{what}: uv must have shape ({len(faces)}, 3, 2), got {uv.shape}")
        if not np.all(np.isfinite(uv)):
            raise ValueError(f"{what}: uv contains non-finite values")
    linear = _rigid_pose(obj.pose, f"{what}: pose")[:3, :3]
    if np.linalg.det(linear) < 0:  # renders mirrored, but its labelled pose has no rotation quaternion
        raise ValueError(f"{what}: pose mirrors the mesh (negative determinant); mirror its vertices instead")
    # Blender keeps an object's matrix as location, rotation and scale: shear is dropped, so the render
    # would show another shape than the mesh the labels (visibility, amodal box) are computed from.
    gram = linear.T @ linear
    lengths = np.sqrt(np.diag(gram))
    cosines = gram / np.outer(lengths, lengths)  # between the axes: 0 unless sheared, whatever the scale
    if np.abs(cosines - np.eye(3)).max() > 1e-6:  # float32 poses pass
        raise ValueError(f"{what}: pose shears the mesh (a rotation times an axis scale is what renders)")


def validate_light(light: Light, i: int) -> None:
    what = f"light {i} ({light.kind})"
    if light.kind not in _LIGHT_KINDS:
        raise ValueError(f"{what}: kind must be one of {_LIGHT_KINDS}")
    _finite_vec(light.position, 3, f"{what} position")
    d = _finite_vec(light.direction, 3, f"{what} direction")
    if np.linalg.norm(d) < 1e-9:
        raise ValueError(f"{what}: direction must be non-zero")
    _colour(light.color, f"{what} color")
    if not (np.isfinite(light.power) and light.power >= 0):
        raise ValueError(f"{what}: power must be finite and >= 0, got {light.power}")
    if not (np.isfinite(light.size) and light.size >= 0):
        raise ValueError(f"{what}: size must be finite and >= 0, got {light.size}")
    if light.kind == "sun" and light.size > np.pi:  # a sun's size is its angle: Blender clamps it to pi
        raise ValueError(
            f"{what}: a sun's size is its angle and must be at most pi radians, got {light.size}"
        )


def validate_world(world: World) -> None:
    _colour(world.color, "world color")
    if not (np.isfinite(world.strength) and world.strength >= 0):
        raise ValueError(f"world strength must be finite and >= 0, got {world.strength}")
    sky = world.sky
    if sky is not None:
        for name in ("sun_elevation", "sun_azimuth", "strength", "haze", "sun_angle"):
            if not np.isfinite(getattr(sky, name)):
                raise ValueError(f"sky {name} must be finite, got {getattr(sky, name)}")
        if not -np.pi / 2 <= sky.sun_elevation <= np.pi / 2:
            raise ValueError(f"sky sun_elevation must be in [-pi/2, pi/2] radians, got {sky.sun_elevation}")
        if sky.strength < 0 or not 0 <= sky.haze <= 1:
            raise ValueError(f"sky strength must be >= 0 and haze in [0, 1], got {sky.strength}, {sky.haze}")
        if not 0 <= sky.sun_angle <= np.pi:  # Blender clamps outside this silently (a negative: 0)
            raise ValueError(f"sky sun_angle must be in [0, pi] radians, got {sky.sun_angle}")


class InvalidDescription(ValueError):
    """A scene description the renderer refuses. Descriptions are a pure function of the rules and the
    seed, so a retry meets the same refusal: unlike any other failure in a render, this one is not
    retried, and the message says the rules must change."""


def validate_description(desc: SceneDescription) -> None:
    """Raise InvalidDescription naming the first problem found; return None if renderable."""
    try:
        _check_description(desc)
    except ValueError as exc:
        raise InvalidDescription(str(exc)) from exc


def _check_description(desc: SceneDescription) -> None:
    if not isinstance(desc, SceneDescription):
        raise ValueError(f"expected a SceneDescription, got {type(desc).__name__}")
    if not isinstance(desc.seed, int | np.integer):
        raise ValueError(f"seed must be an int, got {desc.seed!r}")
    validate_camera(desc.camera)
    ids: set[int] = set()
    for obj in desc.objects:
        validate_object(obj)
        if int(obj.instance_id) != 0 and int(obj.instance_id) in ids:
            raise ValueError(f"duplicate instance_id {obj.instance_id} (object {obj.name!r})")
        ids.add(int(obj.instance_id))
    for i, light in enumerate(desc.lights):
        validate_light(light, i)
    validate_world(desc.world)
    validate_effects(desc.sensor)
    # Chromatic aberration scales a channel by (corner + shift) / corner: at half the diagonal it would
    # scale blue by zero or less (wiped, or mirrored through the centre).
    half_diagonal = float(np.hypot(desc.camera.width / 2, desc.camera.height / 2))
    if abs(desc.sensor.chromatic_aberration_px) >= half_diagonal:
        raise ValueError(
            f"sensor chromatic_aberration_px {desc.sensor.chromatic_aberration_px:g} must be under half the "
            f"image diagonal ({half_diagonal:.1f} px at {desc.camera.width}x{desc.camera.height})"
        )
