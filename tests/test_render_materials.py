"""Renderer tests for materials (patterns, dirt, wear, UV textures), smooth shading, sky and DOF.

Tiny renders (≤64×64, ≤8 samples, no denoiser) whose answers are checked numerically: texture
orientation, stripe frequency, the sky sun's shadow direction, DOF edge widths.
"""

from __future__ import annotations

import dataclasses
import gc
import math

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
    Sky,
    World,
)
from scenesmith.render import scene_build  # noqa: E402
from scenesmith.render.blender import BlenderRenderer  # noqa: E402
from scenesmith.render.materials import build_material  # noqa: E402
from scenesmith.render.settings import RenderSettings  # noqa: E402

GREY = Material("grey", (0.5, 0.5, 0.5), roughness=0.8)
SUN_DOWN = Light("sun", (0, 0, 5), (0, 0, -1), 3.0)
DARK = World((0.0, 0.0, 0.0), 0.0)
F = 60.0  # focal length (px) of the 64×64 top-down test camera


def top_down_camera(w: int = 64, h: int = 64, f: float = F, height: float = 2.0) -> Camera:
    """Camera at (0, 0, height) looking down -Z: image +x = world +x, image +y = world -y."""
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    R = np.diag([1.0, -1.0, -1.0])
    w2c = np.eye(4)
    w2c[:3, :3] = R
    w2c[:3, 3] = -R @ np.array([0.0, 0.0, height])
    return Camera(w, h, K, w2c)


def quad(x0: float, x1: float, y0: float, y1: float, z: float = 0.0) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Upward-facing rectangle and its per-corner UVs (u along +x, v along +y, 0..1)."""
    v = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    uv_vert = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    return trimesh.Trimesh(v, faces, process=False), uv_vert[faces]


def obj(
    iid: int,
    mesh: trimesh.Trimesh,
    mat: Material,
    uv: np.ndarray | None = None,
    smooth: bool = False,
    pose: np.ndarray | None = None,
) -> SceneObject:
    return SceneObject(
        instance_id=iid,
        name=f"o{iid}",
        mesh=mesh,
        face_materials=np.zeros(len(mesh.faces), dtype=int),
        materials=[mat],
        pose=np.eye(4) if pose is None else pose,
        uv=uv,
        smooth=smooth,
    )


def scene(
    cam: Camera, objects: list[SceneObject], lights: list[Light] | None = None, world: World = DARK
) -> SceneDescription:
    return SceneDescription(
        scene_name="test",
        image_index=0,
        seed=3,
        camera=cam,
        objects=objects,
        lights=[SUN_DOWN] if lights is None else lights,
        world=world,
        categories=[],
    )


def plate(mat: Material, half: float = 1.2) -> SceneObject:
    mesh, uv = quad(-half, half, -half, half)
    return obj(1, mesh, mat, uv=uv)


@pytest.fixture(scope="module")
def renderer():
    r = BlenderRenderer(RenderSettings(samples=8, denoise=False))
    yield r
    r.close()


# ---------------------------------------------------------------------------- patterns
@pytest.mark.parametrize("pattern", ["marble", "swirl", "noise", "wood", "speckle", "stripes"])
def test_each_pattern_varies_the_colour(renderer: BlenderRenderer, pattern: str) -> None:
    cam = top_down_camera()
    flat = renderer.render(scene(cam, [plate(GREY)])).rgb.astype(float)
    mat = dataclasses.replace(
        GREY, pattern=pattern, pattern_strength=1.0, pattern_scale=4.0, secondary_color=(0.9, 0.1, 0.05)
    )
    rgb = renderer.render(scene(cam, [plate(mat)])).rgb.astype(float)
    assert np.abs(rgb - flat).mean() > 5, pattern
    # The secondary red varies across the plate (a pattern, not a uniform tint).
    redness = rgb[..., 0] - rgb[..., 2]
    assert redness.std() > 8, pattern


def test_swirl_is_thin_full_strength_veins_on_the_base_colour(renderer: BlenderRenderer) -> None:
    """Swirled dice: most of the surface keeps its colour and veins are the pure secondary colour;
    marble at the same strength is a soft mix instead (no pixel keeps the base colour)."""
    cam = top_down_camera()

    def redness(pattern: str) -> np.ndarray:
        mat = dataclasses.replace(
            GREY, pattern=pattern, pattern_strength=1.0, pattern_scale=1.5, secondary_color=(0.9, 0.05, 0.05)
        )
        rgb = renderer.render(scene(cam, [plate(mat)])).rgb.astype(float)
        return rgb[..., 0] - rgb[..., 2]  # 0 on the grey base, highest on the pure red

    swirl, marble = redness("swirl"), redness("marble")
    pure = swirl.max()
    assert 0.05 < (swirl > 0.5 * pure).mean() < 0.5
    assert (swirl < 10).mean() > 0.4
    assert (marble < 10).mean() < 0.05
    assert marble.max() < 0.8 * pure


def test_stripes_frequency_is_cycles_per_metre(renderer: BlenderRenderer) -> None:
    """pattern_scale = 2 → a stripe period of 0.5 m = 15 px at 60 px per metre (distance 2 m → 30 px/m)."""
    cam = top_down_camera()
    mat = dataclasses.replace(
        GREY, pattern="stripes", pattern_strength=1.0, pattern_scale=2.0, secondary_color=(0.0, 0.0, 0.0)
    )
    rgb = renderer.render(scene(cam, [plate(mat)])).rgb.astype(float)
    profile = rgb[20:44].mean(axis=(0, 2))  # stripes vary along image x only
    assert rgb[:, 10:54].std(axis=0).mean() < 6  # constant along image y
    edges = np.count_nonzero(np.diff(np.sign(profile - profile.mean())))
    # 64 px / 15 px per period = 4.3 periods → 8 or 9 sign changes.
    assert edges in (8, 9), profile.round()


def test_dirt_and_wear_at_zero_add_no_nodes(renderer: BlenderRenderer) -> None:
    """Zero dirt and wear (the defaults) must cost nothing: the plain two-node graph. Either one above
    zero adds its nodes, so the count tells them apart."""
    plain = Material("plastic", (0.2, 0.4, 0.8), roughness=0.3, dirt=0.0, wear=0.0)

    def node_kinds(material: Material) -> list[str]:
        try:
            return sorted(n.bl_idname for n in build_material(material, "probe").node_tree.nodes)
        finally:
            renderer.clear()

    assert node_kinds(plain) == ["ShaderNodeBsdfPrincipled", "ShaderNodeOutputMaterial"]
    for weathered in (dataclasses.replace(plain, dirt=0.3), dataclasses.replace(plain, wear=0.3)):
        assert len(node_kinds(weathered)) > 2


def test_dirt_darkens_and_wear_lightens_edges(renderer: BlenderRenderer) -> None:
    """A 16 cm box seen from 25 cm (~4 mm per pixel, the width of the worn edge band)."""
    cam = top_down_camera(height=0.3)
    box = trimesh.creation.box((0.16, 0.16, 0.1))
    base = Material("paint", (0.1, 0.3, 0.6), roughness=0.4)
    ref = renderer.render(scene(cam, [obj(1, box, base)]))
    top = ref.instance == 1
    dirty = renderer.render(scene(cam, [obj(1, box, dataclasses.replace(base, dirt=1.0))])).rgb
    assert dirty[top].astype(float).mean() < ref.rgb[top].astype(float).mean() - 3
    worn = renderer.render(scene(cam, [obj(1, box, dataclasses.replace(base, wear=1.0))])).rgb
    # Outline of the top face (its 4-neighbourhood leaves the face) = the convex edges.
    interior = np.zeros_like(top)
    interior[1:-1, 1:-1] = top[1:-1, 1:-1] & top[2:, 1:-1] & top[:-2, 1:-1] & top[1:-1, 2:] & top[1:-1, :-2]
    ring = top & ~interior
    gain_edge = worn[ring].astype(float).mean() - ref.rgb[ring].astype(float).mean()
    gain_inside = worn[interior].astype(float).mean() - ref.rgb[interior].astype(float).mean()
    assert gain_edge > 10 and gain_edge > 2 * gain_inside, (gain_edge, gain_inside)

    def saturation(x: np.ndarray) -> float:
        return float((x.max(-1).astype(float) - x.min(-1)).mean())

    assert saturation(worn[ring]) < saturation(ref.rgb[ring])


# ---------------------------------------------------------------------------- textures
def _test_image() -> np.ndarray:
    """16×16: left half red, right half blue, top two rows green (row 0 = top)."""
    img = np.zeros((16, 16, 3), np.uint8)
    img[:, :8] = (255, 0, 0)
    img[:, 8:] = (0, 0, 255)
    img[:2] = (0, 255, 0)
    return img


def test_texture_orientation_head_on(renderer: BlenderRenderer) -> None:
    """A quad whose UVs run u → +x, v → +y (up in the image) shows the array as laid out."""
    cam = top_down_camera()
    half = 32 / F * 2.0  # the quad exactly fills the 64×64 view
    mesh, uv = quad(-half, half, -half, half)
    mat = Material("printed", (0.5, 0.5, 0.5), roughness=1.0, specular=0.0, texture=_test_image())
    rgb = renderer.render(scene(cam, [obj(1, mesh, mat, uv=uv)])).rgb.astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    top = slice(0, 6)  # texture rows 0..1 → image rows 0..7 (minus the interpolated border)
    assert (g[top, 4:60] > r[top, 4:60] + 50).all() and (g[top, 4:60] > b[top, 4:60] + 50).all()
    body = slice(12, 64)
    assert (r[body, :28] > b[body, :28] + 50).all() and (g[body, :28] < 30).all()
    assert (b[body, 36:] > r[body, 36:] + 50).all() and (g[body, 36:] < 30).all()


def test_texture_with_pattern_and_dirt_on_top(renderer: BlenderRenderer) -> None:
    cam = top_down_camera()
    mat = Material("printed", (0.5, 0.5, 0.5), texture=_test_image())
    plain = renderer.render(scene(cam, [plate(mat)])).rgb
    layered = dataclasses.replace(
        mat, pattern="speckle", pattern_strength=1.0, pattern_scale=6.0, secondary_color=(1, 1, 1), dirt=0.6
    )
    assert np.abs(renderer.render(scene(cam, [plate(layered)])).rgb.astype(int) - plain).mean() > 5


def test_datablocks_flat_over_textured_renders(renderer: BlenderRenderer) -> None:
    cam = top_down_camera(32, 32)
    rng = np.random.default_rng(0)

    def desc(k: int) -> SceneDescription:
        tex = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        mat = Material(f"t{k}", (0.5, 0.5, 0.5), texture=tex, dirt=0.3, wear=0.3, pattern_strength=0.5)
        return scene(cam, [plate(mat)], world=World((0.1, 0.1, 0.1), 1.0, sky=Sky(0.8, 1.0 + k)))

    renderer.render(desc(0))
    gc.collect()
    before = renderer.datablock_counts()
    for k in range(1, 8):
        renderer.render(desc(k))
        assert renderer.datablock_counts() == before
    assert before["images"] <= 1 and before["objects"] == 0 and before["lights"] == 0


def test_bad_texture_inputs_raise_value_error(renderer: BlenderRenderer) -> None:
    cam = top_down_camera(16, 16)
    mesh, uv = quad(-1, 1, -1, 1)
    textured = Material("t", (0.5, 0.5, 0.5), texture=_test_image())
    with pytest.raises(ValueError, match="no uv"):
        renderer.render(scene(cam, [obj(1, mesh, textured)]))
    with pytest.raises(ValueError, match="uv must have shape"):
        renderer.render(scene(cam, [obj(1, mesh, textured, uv=uv[:1])]))
    with pytest.raises(ValueError, match="uint8"):
        bad = dataclasses.replace(textured, texture=_test_image().astype(float))
        renderer.render(scene(cam, [obj(1, mesh, bad, uv=uv)]))
    with pytest.raises(ValueError, match="pattern must be one of"):
        renderer.render(scene(cam, [obj(1, mesh, dataclasses.replace(GREY, pattern="plaid"))]))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ shading
def test_smooth_shading_interpolates_normals(renderer: BlenderRenderer) -> None:
    cam = top_down_camera()
    ball = trimesh.creation.icosphere(subdivisions=1, radius=0.8)
    pose = np.eye(4)
    flat = renderer.render(scene(cam, [obj(1, ball, GREY, pose=pose)]))
    smooth = renderer.render(scene(cam, [obj(1, ball, GREY, smooth=True, pose=pose)]))
    hit = flat.instance == 1
    n_flat = len(np.unique(flat.normal[hit].round(4), axis=0))
    n_smooth = len(np.unique(smooth.normal[hit].round(4), axis=0))
    assert n_flat <= len(ball.faces) < n_smooth
    assert np.array_equal(flat.instance, smooth.instance)


# ----------------------------------------------------------------------------------- sky
def _shadow_direction(rgb: np.ndarray, instance: np.ndarray, cam: Camera) -> float:
    """Azimuth (clockwise from world +Y) from the image centre to the pole's shadow."""
    g = rgb.astype(float).mean(-1)
    on_plate = instance == 1
    shadow = on_plate & (g < 0.6 * np.median(g[on_plate]))
    assert shadow.sum() > 10
    ii, jj = np.nonzero(shadow)
    dx = (jj + 0.5 - cam.K[0, 2]).mean()  # image +x = world +x
    dy = -(ii + 0.5 - cam.K[1, 2]).mean()  # image +y = world -y
    return math.degrees(math.atan2(dx, dy)) % 360


@pytest.mark.parametrize("azimuth_deg", [30.0, 200.0])
def test_sky_sun_shadow_points_away_from_sun(renderer: BlenderRenderer, azimuth_deg: float) -> None:
    cam = top_down_camera(64, 64, f=40.0, height=4.0)
    ground_mesh, _ = quad(-3, 3, -3, 3)
    pole_mesh = trimesh.creation.box((0.25, 0.25, 1.0))
    pole_mesh.apply_translation((0, 0, 0.5))
    sky = Sky(sun_elevation=math.radians(35), sun_azimuth=math.radians(azimuth_deg), strength=1.0, haze=0.2)
    desc = scene(
        cam, [obj(1, ground_mesh, GREY), obj(2, pole_mesh, GREY)], lights=[], world=World((0, 0, 0), 0, sky)
    )
    passes = renderer.render(desc)
    # Plausible daylight exposure with the Standard view: grey ground neither black nor clipped.
    ground = passes.rgb[passes.instance == 1].astype(float)
    assert 90 < np.median(ground) < 245
    # Blue sky light: shadowed ground is bluer than it is red.
    got = _shadow_direction(passes.rgb, passes.instance, cam)
    diff = (got - (azimuth_deg + 180.0) + 180.0) % 360.0 - 180.0
    assert abs(diff) < 5, (got, azimuth_deg)


def test_sky_sun_dims_and_reddens_towards_the_horizon() -> None:
    high = scene_build.sun_irradiance(Sky(math.radians(60), 0.0))
    low = scene_build.sun_irradiance(Sky(math.radians(5), 0.0))
    hazy = scene_build.sun_irradiance(Sky(math.radians(60), 0.0, haze=1.0))
    assert (low < high).all() and (hazy < high).all()
    assert low[0] / low[2] > 2 * high[0] / high[2]
    assert not scene_build.sun_irradiance(Sky(-0.1, 0.0)).any()
    np.testing.assert_allclose(scene_build.sun_vector(Sky(0.0, math.pi / 2)), [1, 0, 0], atol=1e-12)


def test_sun_below_horizon_renders_without_lamp(renderer: BlenderRenderer) -> None:
    cam = top_down_camera(16, 16)
    desc = scene(cam, [plate(GREY)], lights=[], world=World((0, 0, 0), 0, Sky(math.radians(-3), 1.0)))
    assert renderer.render(desc).rgb.mean() < 40


# ----------------------------------------------------------------------------------- DOF
def _edge_width(rgb: np.ndarray) -> float:
    """Mean 10–90 % rise width (px) of the vertical dark→bright edge, over rows 16..47."""
    prof = rgb[16:48].astype(float).mean(-1)
    lo, hi = prof[:, :8].mean(), prof[:, -8:].mean()
    norm = (prof - lo) / (hi - lo)
    return float(((norm > 0.1) & (norm < 0.9)).sum(axis=1).mean())


def test_depth_of_field_blurs_out_of_focus_and_labels_stay_exact(renderer: BlenderRenderer) -> None:
    """A white quad covering the right half at 2 m: sharp when focused there, blurred otherwise."""
    white = Material("white", (0.8, 0.8, 0.8), roughness=1.0)
    mesh, _ = quad(0.0, 3.0, -3.0, 3.0)
    objects = [obj(1, mesh, white)]
    pin = renderer.render(scene(top_down_camera(), objects))
    focused_cam = dataclasses.replace(top_down_camera(), f_stop=0.5, focus_distance=2.0)
    blurred_cam = dataclasses.replace(top_down_camera(), f_stop=0.5, focus_distance=0.5)
    focused = renderer.render(scene(focused_cam, objects))
    blurred = renderer.render(scene(blurred_cam, objects))
    w_pin, w_focused, w_blurred = (_edge_width(p.rgb) for p in (pin, focused, blurred))
    assert w_focused <= w_pin + 0.5
    assert w_blurred > w_focused + 2
    # Label passes come from the pinhole render: identical with and without DOF.
    for p in (focused, blurred):
        assert np.array_equal(p.instance, pin.instance)
        assert np.array_equal(p.depth, pin.depth, equal_nan=True)
    assert (pin.instance[:, 32:] == 1).all() and (pin.instance[:, :32] == 0).all()
