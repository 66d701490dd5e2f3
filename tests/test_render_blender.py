"""Blender renderer tests: tiny renders (≤64×64, ≤8 samples) whose answers are known analytically.

Pixel convention under test: pixel (row i, col j) has its centre at continuous image
coordinates (u, v) = (j + 0.5, i + 0.5), with (u, v) = K @ X_cam / Z (OpenCV axes).
"""

from __future__ import annotations

import dataclasses
import gc
import os
from pathlib import Path

import numpy as np
import pytest
import trimesh

pytest.importorskip("bpy")

from scenesmith.procedural.description import (  # noqa: E402
    Camera,
    Light,
    Material,
    SceneDescription,
    SceneObject,
    SensorEffects,
    Sky,
    World,
)
from scenesmith.render.blender import BlenderRenderer  # noqa: E402
from scenesmith.render.camera import blender_camera_params  # noqa: E402
from scenesmith.render.exr import read_exr_channels  # noqa: E402
from scenesmith.render.settings import RenderSettings  # noqa: E402
from scenesmith.render.validate import InvalidDescription  # noqa: E402

RED = Material("red", (0.8, 0.02, 0.02), roughness=0.6)
GREEN = Material("green", (0.02, 0.8, 0.02), roughness=0.6)
GREY = Material("grey", (0.5, 0.5, 0.5))


# ----------------------------------------------------------------------------- helpers
def rot_xyz(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def top_down_camera(
    w: int = 64,
    h: int = 64,
    f: float = 60.0,
    cx: float | None = None,
    cy: float | None = None,
    height: float = 2.0,
) -> Camera:
    """Camera at (0, 0, height) looking down -Z world: image +x = world +x, image +y = world -y."""
    K = np.array([[f, 0, w / 2 if cx is None else cx], [0, f, h / 2 if cy is None else cy], [0, 0, 1.0]])
    R = np.diag([1.0, -1.0, -1.0])
    w2c = np.eye(4)
    w2c[:3, :3] = R
    w2c[:3, 3] = -R @ np.array([0.0, 0.0, height])
    return Camera(w, h, K, w2c)


def quad_mesh(x0: float, x1: float, y0: float, y1: float) -> trimesh.Trimesh:
    """Rectangle in the object's z=0 plane, both triangles facing +z."""
    v = np.array([[x0, y0, 0], [x1, y0, 0], [x1, y1, 0], [x0, y1, 0]], dtype=float)
    return trimesh.Trimesh(v, np.array([[0, 1, 2], [0, 2, 3]]), process=False)


def obj(iid: int, mesh: trimesh.Trimesh, pose: np.ndarray | None = None, mat: Material = RED) -> SceneObject:
    return SceneObject(
        instance_id=iid,
        name=f"o{iid}",
        mesh=mesh,
        face_materials=np.zeros(len(mesh.faces), dtype=int),
        materials=[mat],
        pose=np.eye(4) if pose is None else pose,
    )


def scene(
    cam: Camera,
    objects: list[SceneObject],
    seed: int = 1,
    lights: list[Light] | None = None,
    world: World | None = None,
) -> SceneDescription:
    return SceneDescription(
        scene_name="test",
        image_index=0,
        seed=seed,
        camera=cam,
        objects=objects,
        lights=[Light("sun", (0, 0, 5), (0.2, 0.1, -1), 3.0)] if lights is None else lights,
        world=World((0.05, 0.05, 0.05), 1.0) if world is None else world,
        categories=[],
    )


def pixel_centres(cam: Camera) -> tuple[np.ndarray, np.ndarray]:
    u, v = np.meshgrid(np.arange(cam.width) + 0.5, np.arange(cam.height) + 0.5)
    return u, v


def plane_xy(cam: Camera, dz: float) -> tuple[np.ndarray, np.ndarray]:
    """World x, y seen through each pixel centre of a top-down camera at depth dz."""
    u, v = pixel_centres(cam)
    return (u - cam.K[0, 2]) / cam.K[0, 0] * dz, -(v - cam.K[1, 2]) / cam.K[1, 1] * dz


def raycast(cam: Camera, objects: list[SceneObject]) -> tuple[np.ndarray, np.ndarray]:
    """Reference instance/depth by Möller–Trumbore through every pixel centre (numpy)."""
    u, v = pixel_centres(cam)
    Kinv = np.linalg.inv(cam.K)
    dirs_cam = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ Kinv.T  # Z = 1
    c2w = cam.camera_to_world
    origin = c2w[:3, 3]
    dirs = dirs_cam @ c2w[:3, :3].T
    best_t = np.full(len(dirs), np.inf)
    inst = np.zeros(len(dirs), dtype=np.int32)
    for o in objects:
        tri = o.world_mesh.triangles
        for a, b, c in tri:
            e1, e2 = b - a, c - a
            p = np.cross(dirs, e2)
            det = p @ e1
            ok = np.abs(det) > 1e-12
            inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
            s = origin - a
            bu = (p @ s) * inv
            q = np.cross(s, e1)
            bv = (dirs @ q) * inv
            t = (q @ e2) * inv
            hit = ok & (bu >= 0) & (bv >= 0) & (bu + bv <= 1) & (t > 0) & (t < best_t)
            best_t[hit] = t[hit]
            inst[hit] = o.instance_id
    depth = np.where(np.isfinite(best_t), best_t, np.nan)  # t along a Z=1 direction = planar depth
    return inst.reshape(u.shape), depth.reshape(u.shape)


@pytest.fixture(scope="module")
def renderer():
    r = BlenderRenderer(RenderSettings(samples=4, denoise=True))
    yield r
    r.close()


# ------------------------------------------------------------------------------- tests
def test_camera_params_shift_sign() -> None:
    """bpy-free: a principal point right of / below centre gives negative shift_x / positive shift_y."""
    cam = top_down_camera(64, 48, cx=40.0, cy=30.0)
    p = blender_camera_params(cam.K, cam.world_to_camera, 64, 48, 0.01, 100)
    assert p.shift_x == pytest.approx(-8 / 64)
    assert p.shift_y == pytest.approx(6 / 64)
    assert p.lens_mm == pytest.approx(60.0 * 36.0 / 64)
    # Portrait: shift is still in units of the width (sensor fit HORIZONTAL), not the longer side.
    cam = top_down_camera(40, 64, cx=14.0, cy=40.0)
    p = blender_camera_params(cam.K, cam.world_to_camera, 40, 64, 0.01, 100)
    assert p.shift_x == pytest.approx(6 / 40)
    assert p.shift_y == pytest.approx(8 / 40)


def test_plane_depth_is_planar_z(renderer: BlenderRenderer) -> None:
    """A plane parallel to the image plane at distance d has depth d at every hit pixel.

    The camera is tilted arbitrarily and the FOV is wide (corner rays ~40° off-axis), so a
    ray-length depth would differ from d by up to ~30 %.
    """
    d = 1.7
    cam = top_down_camera(64, 64, f=40.0)
    c2w = np.eye(4)
    c2w[:3, :3] = rot_xyz(0.4, -0.3, 0.7)
    c2w[:3, 3] = [0.3, -0.2, 1.5]
    cam = Camera(64, 64, cam.K, np.linalg.inv(c2w))
    # Plane in camera coordinates at Z = d covering x in [-0.9, 0.6] m, y in [-0.5, 1.2] m.
    plane_cam = np.eye(4)
    plane_cam[:3, 3] = [0, 0, d]
    o = obj(3, quad_mesh(-0.9, 0.6, -0.5, 1.2), pose=c2w @ plane_cam)
    passes = renderer.render(scene(cam, [o]))
    hit = passes.instance == 3
    u, v = pixel_centres(cam)
    x = (u - cam.K[0, 2]) / cam.K[0, 0] * d
    y = (v - cam.K[1, 2]) / cam.K[1, 1] * d
    expected = (x >= -0.9) & (x <= 0.6) & (y >= -0.5) & (y <= 1.2)
    assert np.array_equal(hit, expected)
    assert hit.sum() > 500 and (~hit).sum() > 500
    np.testing.assert_allclose(passes.depth[hit], d, atol=1e-4)
    assert np.all(np.isnan(passes.depth[~hit]))
    assert passes.depth.dtype == np.float32
    # Normal: world-space and unit. The quad's +z faces *away* from the camera here, and Cycles
    # reports the side that was hit (back faces flipped towards the viewer). Background: zero.
    n_world = (c2w @ plane_cam)[:3, 2]
    np.testing.assert_allclose(passes.normal[hit], np.broadcast_to(-n_world, (hit.sum(), 3)), atol=1e-4)
    assert np.all(passes.normal[~hit] == 0)


@pytest.mark.parametrize(
    ("w", "h", "cx", "cy"),
    [(64, 64, 32.0, 32.0), (64, 48, 41.3, 20.2), (40, 64, 14.8, 37.9)],
    ids=["square-centred", "landscape-offset-pp", "portrait-offset-pp"],
)
def test_rectangle_pixels_match_projection(
    renderer: BlenderRenderer, w: int, h: int, cx: float, cy: float
) -> None:
    """Instance pixels == pixel centres inside the analytically projected rectangle."""
    cam = top_down_camera(w, h, f=50.0, cx=cx, cy=cy)
    z = 0.3  # plate at z=0.3, camera at z=2 → depth 1.7
    x0, x1, y0, y1 = -0.41, 0.237, -0.313, 0.52
    pose = np.eye(4)
    pose[2, 3] = z
    passes = renderer.render(scene(cam, [obj(5, quad_mesh(x0, x1, y0, y1), pose)]))
    corners, depth = cam.project(np.array([[x0, y0, z], [x1, y1, z]]))
    umin, umax = sorted(corners[:, 0])
    vmin, vmax = sorted(corners[:, 1])
    u, v = pixel_centres(cam)
    expected = (u >= umin) & (u <= umax) & (v >= vmin) & (v <= vmax)
    # The chosen edges stay ≥0.05 px from every pixel centre, so the test is not borderline.
    for e in (umin, umax, vmin, vmax):
        assert abs((e - 0.5) - round(e - 0.5)) > 0.05
    assert passes.instance.shape == (h, w)
    assert np.array_equal(passes.instance == 5, expected)
    np.testing.assert_allclose(passes.depth[expected], depth[0], atol=1e-4)


def test_orientation_top_left(renderer: BlenderRenderer) -> None:
    """A box at world (-x, +y) under a top-down camera appears in the image's top-left quadrant."""
    cam = top_down_camera(64, 64)
    pose = np.eye(4)
    pose[:3, 3] = [-0.55, 0.55, 0.1]
    passes = renderer.render(scene(cam, [obj(9, trimesh.creation.box(extents=[0.3, 0.3, 0.2]), pose)]))
    rows, cols = np.nonzero(passes.instance == 9)
    assert len(rows) > 20
    assert rows.max() < 32 and cols.max() < 32  # row 0 = top, col 0 = left
    # And the RGB agrees: red pixels in the top-left, none bottom-right.
    rgb = passes.rgb.astype(int)
    red = (rgb[..., 0] > 2 * rgb[..., 1] + 20) & (rgb[..., 0] > 2 * rgb[..., 2] + 20)
    assert red[:32, :32].sum() > 20 and red[32:, 32:].sum() == 0


def test_overlap_nearer_box_wins(renderer: BlenderRenderer) -> None:
    cam = top_down_camera(64, 64)
    near = np.eye(4)
    near[2, 3] = 0.8  # depth 1.2
    far = np.eye(4)
    far[2, 3] = 0.2  # depth 1.8
    a = obj(1, quad_mesh(-0.5, 0.1, -0.5, 0.1), far)
    b = obj(2, quad_mesh(-0.1, 0.4, -0.1, 0.4), near, GREEN)
    for objects in ([a, b], [b, a]):  # result must not depend on creation order
        passes = renderer.render(scene(cam, objects))
        xb, yb = plane_xy(cam, 1.2)
        in_b = (xb >= -0.1) & (xb <= 0.4) & (yb >= -0.1) & (yb <= 0.4)
        xa, ya = plane_xy(cam, 1.8)
        in_a = (xa >= -0.5) & (xa <= 0.1) & (ya >= -0.5) & (ya <= 0.1)
        assert (in_a & in_b).sum() > 20
        assert np.array_equal(passes.instance == 2, in_b)
        assert np.array_equal(passes.instance == 1, in_a & ~in_b)
        np.testing.assert_allclose(passes.depth[in_b], 1.2, atol=1e-4)
        np.testing.assert_allclose(passes.depth[in_a & ~in_b], 1.8, atol=1e-4)


def test_random_boxes_match_reference_raycast(renderer: BlenderRenderer) -> None:
    """Rotated boxes under an oblique camera: instance and depth equal a numpy ray-cast."""
    rng = np.random.default_rng(7)
    c2w = np.eye(4)
    c2w[:3, :3] = rot_xyz(np.pi + 0.5, 0.2, 0.3)
    c2w[:3, 3] = [0.2, -1.0, 1.8]
    K = np.array([[55.0, 0, 30.3], [0, 55.0, 35.1], [0, 0, 1]])
    cam = Camera(64, 64, K, np.linalg.inv(c2w))
    objects = []
    for i in range(6):
        pose = np.eye(4)
        pose[:3, :3] = rot_xyz(*rng.uniform(-np.pi, np.pi, 3))
        pose[:3, 3] = [rng.uniform(-0.5, 0.5), rng.uniform(-0.3, 0.5), rng.uniform(0.0, 0.4)]
        objects.append(obj(10 + i, trimesh.creation.box(extents=rng.uniform(0.15, 0.4, 3)), pose))
    passes = renderer.render(scene(cam, objects))
    ref_inst, ref_depth = raycast(cam, objects)
    assert len(np.unique(ref_inst)) >= 5
    mismatch = passes.instance != ref_inst
    # Only rays grazing an edge (within ~0.005 px, Cycles' label filter) may disagree.
    assert mismatch.sum() <= 2, np.argwhere(mismatch)
    same = ~mismatch & (ref_inst > 0)
    np.testing.assert_allclose(passes.depth[same], ref_depth[same], atol=1e-4)
    assert np.all(np.isnan(passes.depth[ref_inst == 0]))
    n = np.linalg.norm(passes.normal[same], axis=-1)
    np.testing.assert_allclose(n, 1.0, atol=1e-4)


def test_same_seed_same_pixels_and_red_is_red(renderer: BlenderRenderer) -> None:
    cam = top_down_camera(64, 64)
    pose = np.eye(4)
    pose[2, 3] = 0.1
    box = obj(4, trimesh.creation.box(extents=[0.8, 0.8, 0.2]), pose)
    p1 = renderer.render(scene(cam, [box], seed=42))
    p2 = renderer.render(scene(cam, [box], seed=42))
    p3 = renderer.render(scene(cam, [box], seed=42 + 2**31))  # seed is taken mod 2**31
    assert p1.rgb.dtype == np.uint8 and p1.rgb.shape == (64, 64, 3)
    assert np.array_equal(p1.rgb, p2.rgb)
    assert np.array_equal(p1.rgb, p3.rgb)
    # and the seed reaches Cycles: a renderer that fixed its own seed passed every line above
    assert not np.array_equal(p1.rgb, renderer.render(scene(cam, [box], seed=43)).rgb)
    top = p1.rgb[p1.instance == 4].astype(int)
    assert np.median(top[:, 0]) > 100
    assert np.median(top[:, 0]) > 2 * np.median(top[:, 1])  # specular adds some white
    assert p1.settings["seed"] == 42
    for key in (
        "device",
        "samples",
        "denoiser",
        "view_transform",
        "look",
        "exposure",
        "blender_version",
        "resolution",
    ):
        assert key in p1.settings
    assert set(p1.timings) >= {"setup", "render", "readback"}


def test_standard_view_is_exact_srgb(renderer: BlenderRenderer, tmp_path: Path) -> None:
    """The uint8 RGB equals the sRGB OETF of the linear Combined pass (clipped, rounded)."""
    cam = top_down_camera(64, 64)
    pose = np.eye(4)
    pose[2, 3] = 0.1
    mat = Material(
        "marble", (0.6, 0.3, 0.1), pattern_strength=1.0, pattern_scale=5.0, secondary_color=(0.9, 0.9, 0.9)
    )
    box = obj(4, trimesh.creation.box(extents=[0.8, 0.8, 0.2]), pose, mat)
    passes = renderer.render(
        scene(cam, [box], lights=[Light("sun", (0, 0, 5), (0, 0, -1), 1.5)]), workdir=tmp_path
    )
    ch = read_exr_channels(tmp_path / "beauty.exr")
    lin = np.clip(np.stack([ch[f"ViewLayer.Combined.{c}"] for c in "RGB"], -1).astype(np.float64), 0, 1)
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    expected = np.rint(srgb * 255).astype(int)
    assert np.abs(passes.rgb.astype(int) - expected).max() <= 1
    assert (lin >= 1).any() or lin.max() > 0.3  # non-trivial exposure range
    # The marble pattern makes the top face vary.
    assert passes.rgb[passes.instance == 4].std(axis=0).max() > 3


def test_braces_in_the_work_folder_are_not_read_as_a_path_template(
    renderer: BlenderRenderer, tmp_path: Path
) -> None:
    """Blender reads `{name}` in its render output path as a template; a work folder such as a job's
    temp dir `job_{42}` must still get the passes, and the same ones as a plain folder."""
    cam = top_down_camera(32, 32)
    desc = scene(cam, [obj(3, trimesh.creation.box(extents=[0.5, 0.5, 0.2]))])
    plain = renderer.render(desc, workdir=tmp_path / "plain")
    braced = renderer.render(desc, workdir=tmp_path / "job_{42}_{blend_name}")
    assert (tmp_path / "job_{42}_{blend_name}" / "labels.exr").is_file()
    assert np.array_equal(braced.instance, plain.instance) and (plain.instance == 3).any()


def test_sun_direction(renderer: BlenderRenderer) -> None:
    """Lights shine along `direction`: a sun pointing down lights an upward plate; pointing up, not."""
    cam = top_down_camera(32, 32)
    plate = obj(1, quad_mesh(-1, 1, -1, 1), mat=GREY)
    dark_world = World((0.0, 0.0, 0.0), 0.0)
    down = renderer.render(
        scene(cam, [plate], lights=[Light("sun", (0, 0, 3), (0, 0, -1), 3.0)], world=dark_world)
    )
    up = renderer.render(
        scene(cam, [plate], lights=[Light("sun", (0, 0, 3), (0, 0, 1), 3.0)], world=dark_world)
    )
    assert down.rgb.mean() > 100
    assert up.rgb.mean() < 2


def test_point_and_area_lights_render(renderer: BlenderRenderer) -> None:
    cam = top_down_camera(32, 32)
    plate = obj(1, quad_mesh(-1, 1, -1, 1), mat=GREY)
    dark = World((0.0, 0.0, 0.0), 0.0)
    for light in (
        Light("point", (0, 0, 1.0), (0, 0, -1), 100.0, size=0.1),
        Light("area", (0, 0, 1.0), (0, 0, -1), 100.0, size=0.5),
    ):
        assert renderer.render(scene(cam, [plate], lights=[light], world=dark)).rgb.mean() > 20
    # An area light facing away from the plate leaves it black.
    away = Light("area", (0, 0, 1.0), (0, 0, 1), 100.0, size=0.5)
    assert renderer.render(scene(cam, [plate], lights=[away], world=dark)).rgb.mean() < 2


def test_multi_material_faces(renderer: BlenderRenderer) -> None:
    """face_materials picks the slot per face; still one instance id for the object."""
    cam = top_down_camera(32, 32)
    mesh = trimesh.Trimesh(
        np.array([[-1, -1, 0], [0, -1, 0], [0, 1, 0], [-1, 1, 0], [1, -1, 0], [1, 1, 0]], float),
        np.array([[0, 1, 2], [0, 2, 3], [1, 4, 5], [1, 5, 2]]),
        process=False,
    )
    o = SceneObject(8, "two-tone", mesh, np.array([0, 0, 1, 1]), [RED, GREEN], np.eye(4))
    passes = renderer.render(scene(cam, [o], lights=[Light("sun", (0, 0, 3), (0, 0, -1), 3.0)]))
    assert np.all(passes.instance == 8)
    left, right = passes.rgb[:, :14].astype(int), passes.rgb[:, 18:].astype(int)
    assert left[..., 0].mean() > 2 * left[..., 1].mean()
    assert right[..., 1].mean() > 2 * right[..., 0].mean()


def _rss_bytes() -> int:
    """Resident set size from /proc (psutil is not a dependency of the test environment)."""
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_no_growth_over_30_renders(renderer: BlenderRenderer) -> None:
    cam = top_down_camera(32, 32)
    mat = Material("m", (0.5, 0.2, 0.1), pattern_strength=0.5)

    def desc(k: int) -> SceneDescription:
        objects = []
        for i in range(4):
            pose = np.eye(4)
            pose[:3, 3] = [0.3 * i - 0.5, 0.1 * k % 0.5, 0.1]
            objects.append(obj(i + 1, trimesh.creation.icosphere(subdivisions=2, radius=0.15), pose, mat))
        return scene(cam, objects, seed=k)

    renderer.render(desc(0))
    gc.collect()
    before = renderer.datablock_counts()
    rss0 = _rss_bytes()
    for k in range(30):
        renderer.render(desc(k))
        assert renderer.datablock_counts() == before
    gc.collect()
    rss1 = _rss_bytes()
    growth = (rss1 - rss0) / 2**20
    print(f"RSS growth over 30 renders: {growth:.1f} MiB; datablocks {before}")
    assert before["objects"] == 0 and before["meshes"] == 0 and before["materials"] == 0
    assert growth < 100


def _bad_descriptions() -> dict[str, SceneDescription]:
    cam = top_down_camera(32, 32)
    good = obj(1, trimesh.creation.box(extents=[0.2, 0.2, 0.2]))
    nan_pose = np.eye(4)
    nan_pose[0, 3] = np.nan
    K_inf = cam.K.copy()
    K_inf[0, 2] = np.inf
    K_aniso = cam.K.copy()
    K_aniso[1, 1] *= 1.01
    empty = trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=int))
    sheared = np.eye(4)
    sheared[0, 1] = 0.5
    K_fisheye = cam.K.copy()
    K_fisheye[0, 0] = K_fisheye[1, 1] = 32 / 36 * 0.9  # a 0.9 mm lens: Blender would render 1 mm

    def with_sensor(**effects: float) -> SceneDescription:
        return dataclasses.replace(scene(cam, [good]), sensor=SensorEffects(**effects))

    def with_sky(**sky: float) -> SceneDescription:
        return scene(cam, [good], world=World((0.05, 0.05, 0.05), 1.0, sky=Sky(0.8, 1.0, **sky)))

    return {
        "empty mesh": scene(cam, [obj(1, empty)]),
        "nan pose": scene(cam, [obj(1, trimesh.creation.box(), nan_pose)]),
        "non-finite K": scene(Camera(32, 32, K_inf, cam.world_to_camera), [good]),
        "fx != fy": scene(Camera(32, 32, K_aniso, cam.world_to_camera), [good]),
        "bad face material": scene(cam, [SceneObject(1, "x", good.mesh, np.full(12, 3), [RED], np.eye(4))]),
        "duplicate ids": scene(cam, [good, obj(1, trimesh.creation.box())]),
        "id above Blender's pass_index": scene(cam, [obj(32768, trimesh.creation.box())]),
        "nan light": scene(cam, [good], lights=[Light("sun", (0, 0, np.nan), (0, 0, -1), 1.0)]),
        "zero resolution": scene(Camera(0, 32, cam.K, cam.world_to_camera), [good]),
        # Blender drops the shear of matrix_world: the instance pass disagreed with the mesh on 170 px
        "sheared pose": scene(cam, [obj(1, trimesh.creation.box(), sheared)]),
        # renders mirrored, then its labelled pose had no rotation quaternion (a scipy traceback)
        "mirrored pose": scene(cam, [obj(1, trimesh.creation.box(), np.diag([-1.0, 1.0, 1.0, 1.0]))]),
        "lens under Blender's 1 mm": scene(Camera(32, 32, K_fisheye, cam.world_to_camera), [good]),
        # Blender clamps a negative channel to 0: the render's colour is not the described one
        "negative material colour": scene(
            cam, [obj(1, trimesh.creation.box(), mat=dataclasses.replace(RED, base_color=(-0.5, 0.2, 0.2)))]
        ),
        "negative light colour": scene(
            cam, [good], lights=[Light("sun", (0, 0, 1), (0, 0, -1), 1.0, color=(1.0, -0.1, 1.0))]
        ),
        # blue scaled by (corner - 22.6) / corner = 0: wiped (and mirrored beyond), at 32x32
        "aberration of half the diagonal": with_sensor(chromatic_aberration_px=22.63),
        "nan motion blur angle": with_sensor(motion_blur_px=2.0, motion_blur_angle_deg=float("nan")),
        "nan sun angle": with_sky(sun_angle=float("nan")),  # Blender passed it on to Cycles
        "negative sun angle": with_sky(sun_angle=-0.01),  # Blender clamped it to 0: hard shadows
    }


@pytest.mark.parametrize("case", list(_bad_descriptions()))
def test_bad_input_raises_value_error(renderer: BlenderRenderer, case: str) -> None:
    """Before any bpy call, and as InvalidDescription: the pools give up on it at once ("the rules must
    change") instead of retrying it like a crash."""
    with pytest.raises(InvalidDescription):
        renderer.render(_bad_descriptions()[case])
    # The renderer is still usable and clean afterwards.
    assert renderer.datablock_counts()["objects"] == 0


def test_bad_settings_raise_value_error() -> None:
    with pytest.raises(ValueError):
        RenderSettings(samples=0)
    with pytest.raises(ValueError):
        RenderSettings(device="tpu")
    # Past Blender's own bounds it clamps silently, and the recorded settings would not be the rendered ones.
    for beyond in ({"adaptive_threshold": 5.0}, {"exposure": 50.0}, {"threads": 2000}, {"max_bounces": 2000}):
        with pytest.raises(ValueError, match=f"{next(iter(beyond))} must be in"):
            RenderSettings(**beyond)


def test_view_transform_agx_and_two_renderers_in_one_process(renderer: BlenderRenderer) -> None:
    """bpy state is per process: a second renderer must not disturb the first one's settings."""
    cam = top_down_camera(32, 32)
    pose = np.eye(4)
    pose[2, 3] = 0.1
    d = scene(cam, [obj(4, trimesh.creation.box(extents=[0.8, 0.8, 0.2]), pose)], seed=3)
    standard = renderer.render(d)
    agx = BlenderRenderer(RenderSettings(samples=4, view_transform="AgX", look="AgX - Punchy"))
    try:
        p = agx.render(d)
        assert p.settings["view_transform"] == "AgX" and p.settings["look"] == "AgX - Punchy"
        assert np.abs(p.rgb.astype(int) - standard.rgb.astype(int)).max() > 10
        again = renderer.render(d)  # the first renderer re-applies its own settings
        assert again.settings["view_transform"] == "Standard"
        assert np.array_equal(again.rgb, standard.rgb)
    finally:
        agx.close()
    assert np.array_equal(renderer.render(d).rgb, standard.rgb)  # and survives the other's close()


def test_unknown_view_transform_is_value_error() -> None:
    with pytest.raises(ValueError):
        BlenderRenderer(RenderSettings(view_transform="NoSuchView"))
