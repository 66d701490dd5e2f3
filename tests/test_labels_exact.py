"""Labels from real Cycles renders against answers known analytically (64×64, few samples).

The reference masks are computed independently of both Blender and the annotate rasterizer: a
ray through every pixel centre is cast at the meshes with trimesh, which is the documented
definition of "the object a pixel belongs to".
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh
from pycocotools import mask as mask_utils
from raycast import ray_cast_instances

from scenesmith.annotate.labels import label_image
from scenesmith.annotate.rasterize import silhouette
from scenesmith.procedural.camera import intrinsics, look_at
from scenesmith.procedural.description import Camera, Light, Material, SceneDescription, SceneObject, World

SIZE = 64
HEIGHT = 1.0  # camera height above z = 0
FOV = 40.0


def _box(
    instance_id: int, extents: tuple[float, float, float], pose: np.ndarray, labelled: bool = True
) -> SceneObject:
    mesh = trimesh.creation.box(extents=extents)
    colour = tuple(np.random.default_rng(instance_id).uniform(0.2, 0.9, 3))
    return SceneObject(
        instance_id=instance_id,
        name=f"box{instance_id}",
        mesh=mesh,
        face_materials=np.zeros(len(mesh.faces), np.int32),
        materials=[Material(name=f"m{instance_id}", base_color=colour)],
        pose=pose,
        category_id=1 if labelled else None,
        category="box" if labelled else None,
    )


def _pose(x: float, y: float, z: float, yaw_deg: float = 0.0, tilt_deg: float = 0.0) -> np.ndarray:
    pose = trimesh.transformations.rotation_matrix(math.radians(yaw_deg), [0, 0, 1]) @ (
        trimesh.transformations.rotation_matrix(math.radians(tilt_deg), [1, 0, 0])
    )
    pose[:3, 3] = [x, y, z]
    return pose


def _projected_x(camera: Camera, x: float, z: float) -> float:
    return float(camera.project(np.array([[x, 0.0, z]]))[0][0, 0])


@pytest.fixture(scope="module")
def scene() -> SceneDescription:
    camera = Camera(
        width=SIZE,
        height=SIZE,
        K=intrinsics(SIZE, SIZE, FOV),
        world_to_camera=look_at(np.array([0, 0, HEIGHT]), np.zeros(3), np.array([0, -1.0, 0])),
    )
    half_view = HEIGHT * math.tan(math.radians(FOV / 2))  # half the frame width on z = 0
    objects = [
        # 1: rotated and tilted, fully visible.
        _box(1, (0.16, 0.1, 0.04), _pose(-0.12, 0.14, 0.08, yaw_deg=30, tilt_deg=20)),
        # 2: flat box at x = 0.15, and 3: an occluder (unlabelled) whose left edge projects onto 2's centre.
        _box(2, (0.14, 0.14, 0.01), _pose(0.15, -0.12, 0.005)),
        # 4: fully hidden under 5.
        _box(4, (0.04, 0.04, 0.02), _pose(-0.15, -0.15, 0.01)),
        _box(5, (0.16, 0.16, 0.01), _pose(-0.15, -0.15, 0.2), labelled=False),
        # 6: centred on the frame's left edge → half truncated.
        _box(6, (0.12, 0.12, 0.01), _pose(-half_view, 0.05, 0.005)),
    ]
    # The occluder of box 2 sits at z = 0.3; its left edge is placed where box 2's centre projects.
    z_occ = 0.3
    x_left = 0.15 * (HEIGHT - z_occ) / (HEIGHT - 0.01)
    objects.append(_box(3, (0.2, 0.3, 0.01), _pose(x_left + 0.1, -0.12, z_occ), labelled=False))
    return SceneDescription(
        scene_name="analytic",
        image_index=0,
        seed=1,
        camera=camera,
        objects=objects,
        lights=[Light("sun", (0, 0, 2), (0, 0, -1), 3.0)],
        world=World((1.0, 1.0, 1.0), 0.3),
        categories=[{"id": 1, "name": "box"}],
    )


@pytest.fixture(scope="module")
def rendered(scene: SceneDescription):  # noqa: ANN201
    from scenesmith.render.blender import BlenderRenderer
    from scenesmith.render.settings import RenderSettings

    with BlenderRenderer(RenderSettings(samples=4, denoise=False, device="cpu")) as renderer:
        passes = renderer.render(scene)
    return passes, label_image(scene, passes, image_id=1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_masks_match_independent_ray_casting(scene: SceneDescription, rendered) -> None:  # noqa: ANN001
    passes, labels = rendered
    reference = ray_cast_instances(scene)
    for ann in labels.annotations:
        mask = mask_utils.decode(ann["segmentation"]).astype(bool)
        ref = reference == ann["instance_id"]
        assert _iou(mask, ref) >= 0.98, ann["instance_id"]
        ys, xs = np.nonzero(ref)
        ref_box = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        np.testing.assert_allclose(ann["bbox"], ref_box, atol=1)
    assert {a["instance_id"] for a in labels.annotations} == {1, 2, 6}


def test_hidden_half_hidden_and_half_truncated(rendered) -> None:  # noqa: ANN001
    _, labels = rendered
    by_id = {o["instance_id"]: o for o in labels.objects}
    assert by_id[4]["visibility"] == 0.0
    assert 4 not in {a["instance_id"] for a in labels.annotations}
    assert by_id[2]["visibility"] == pytest.approx(0.5, abs=0.08)
    assert by_id[6]["truncation"] == pytest.approx(0.5, abs=0.08)
    assert by_id[1]["visibility"] == pytest.approx(1.0, abs=0.02)
    assert by_id[1]["truncation"] == pytest.approx(0.0, abs=1e-9)


def test_six_d_pose_and_K_reproject_the_mesh_onto_its_mask(scene: SceneDescription, rendered) -> None:  # noqa: ANN001
    _, labels = rendered
    meta = labels.meta({"image": "images/000000.png"})
    K = np.asarray(meta["camera"]["K"])
    obj_meta = next(o for o in meta["objects"] if o["instance_id"] == 1)
    object_to_camera = np.asarray(obj_meta["pose_camera"]["matrix"])
    mesh_in_camera = scene.object_by_instance(1).mesh.copy().apply_transform(object_to_camera)
    camera_at_origin = Camera(width=SIZE, height=SIZE, K=K, world_to_camera=np.eye(4))
    projected = silhouette(mesh_in_camera, camera_at_origin).frame_mask(SIZE, SIZE)
    ann = next(a for a in labels.annotations if a["instance_id"] == 1)
    assert _iou(projected, mask_utils.decode(ann["segmentation"]).astype(bool)) >= 0.98


def test_depth_is_planar_z_of_the_known_geometry(scene: SceneDescription, rendered) -> None:  # noqa: ANN001
    passes, _ = rendered
    reference = ray_cast_instances(scene)
    top_of_box6 = HEIGHT - 0.01  # flat box 6: top face at z = 0.01
    depth6 = passes.depth[reference == 6]
    np.testing.assert_allclose(depth6, top_of_box6, atol=1e-4)
    assert np.isnan(passes.depth[0, -1]) or passes.instance[0, -1] != 0


def test_a_sliver_the_render_shows_but_no_pixel_centre_covers_is_visible_not_hidden(
    scene: SceneDescription,
) -> None:
    """Where Cycles' hit test and the rasteriser part on a pixel centre, the render wins: the annotated
    sliver had visibility 0, which means hidden, so a `visibility > t` filter dropped a real box."""
    from dataclasses import replace

    from scenesmith.render.passes import RenderPasses

    pixel = 2 * HEIGHT * math.tan(math.radians(FOV / 2)) / SIZE  # a pixel's side on z = 0
    sliver = _box(7, (pixel / 5, pixel / 5, 0.001), _pose(0.0, 0.0, 0.0005))  # between four pixel centres
    alone = replace(scene, objects=[sliver])
    assert silhouette(sliver.world_mesh, alone.camera, pad=SIZE).count_inside(SIZE, SIZE) == 0
    instance = np.zeros((SIZE, SIZE), np.int32)
    instance[SIZE // 2, SIZE // 2] = 7  # the renderer caught one pixel of it
    nothing = np.zeros((SIZE, SIZE, 3), np.float32)
    passes = RenderPasses(np.zeros((SIZE, SIZE, 3), np.uint8), instance, nothing[..., 0], nothing)
    labels = label_image(alone, passes, image_id=1)
    (annotation,) = labels.annotations
    assert annotation["visibility"] == 1.0 and annotation["area"] == 1
    assert labels.objects[0]["visibility"] == 1.0


def test_a_sliver_at_the_frame_edge_the_render_shows_is_not_wholly_truncated() -> None:
    """A square reaching from far left of the frame to x = 0.49 px covers no in-frame pixel centre, yet
    the render shows its edge in column 0: it is annotated, so its truncation must be below 1 (1 means
    wholly outside the frame, and a `truncation < t` filter would drop the real box)."""
    from scenesmith.render.passes import RenderPasses

    width = height = 20
    camera = Camera(width, height, np.array([[20.0, 0, 10], [0, 20, 10], [0, 0, 1]]), np.eye(4))
    left, right = -1.0, (0.49 - 10) / 20  # pixel x from -10 to 0.49 on the plane z = 1
    vertices = np.array([[left, -0.1, 1], [right, -0.1, 1], [right, 0.1, 1], [left, 0.1, 1]], float)
    square = SceneObject(
        1, "square", trimesh.Trimesh(vertices, [[0, 1, 2], [0, 2, 3]], process=False), np.zeros(2, int), [],
        np.eye(4), category_id=1, category="box",
    )  # fmt: skip
    desc = SceneDescription(
        "edge", 0, 0, camera, [square], [], World((0, 0, 0), 1.0), [{"id": 1, "name": "box"}]
    )
    instance = np.zeros((height, width), np.int32)
    instance[8:12, 0] = 1
    nothing = np.zeros((height, width, 3), np.float32)
    passes = RenderPasses(np.zeros((height, width, 3), np.uint8), instance, nothing[..., 0], nothing)
    (entry,) = label_image(desc, passes, image_id=1).objects
    assert entry["unoccluded_pixels"] == 0 and entry["visible_pixels"] == 4 and entry["annotation_id"]
    assert 0.8 < entry["truncation"] < 1.0  # 4 of about 40 projected pixels are in the frame
