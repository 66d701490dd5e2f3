"""The pixel-centre rasterizer against an independent reference: trimesh ray casting."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from scenesmith.annotate import rasterize
from scenesmith.annotate.rasterize import rasterize_triangles, silhouette
from scenesmith.procedural.description import Camera

W, H = 64, 48


def look_down_camera(width: int = W, height: int = H, focal: float = 60.0, z: float = 1.0) -> Camera:
    """Camera at (0, 0, z) looking straight down, image +X = world +X, image +Y = world −Y."""
    cam_to_world = np.eye(4)
    cam_to_world[:3, :3] = np.diag([1.0, -1.0, -1.0])
    cam_to_world[:3, 3] = [0.0, 0.0, z]
    K = np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
    return Camera(width=width, height=height, K=K, world_to_camera=np.linalg.inv(cam_to_world))


def raycast_mask(mesh_world: trimesh.Trimesh, camera: Camera) -> np.ndarray:
    """Which pixel-centre rays hit the mesh (independent of the rasterizer)."""
    jj, ii = np.meshgrid(np.arange(camera.width), np.arange(camera.height))
    pix = np.stack([jj.ravel() + 0.5, ii.ravel() + 0.5, np.ones(jj.size)], axis=1)
    cam_to_world = camera.camera_to_world
    dirs = pix @ np.linalg.inv(camera.K).T @ cam_to_world[:3, :3].T
    origins = np.broadcast_to(cam_to_world[:3, 3], dirs.shape)
    hit = mesh_world.ray.intersects_first(origins, dirs) >= 0
    return hit.reshape(camera.height, camera.width)


def random_box(rng: np.random.Generator, extents: tuple[float, float, float] = (0.2, 0.12, 0.08)):
    pose = trimesh.transformations.random_rotation_matrix(rng.random(3))
    pose[:3, 3] = [rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(0.0, 0.2)]
    return trimesh.creation.box(extents=extents, transform=pose)


@pytest.mark.parametrize("seed", range(4))
def test_matches_raycast_for_rotated_boxes(seed: int) -> None:
    camera = look_down_camera()
    mesh = random_box(np.random.default_rng(seed))
    expected = raycast_mask(mesh, camera)
    got = silhouette(mesh, camera).frame_mask(W, H)
    assert expected.sum() > 50
    iou = (got & expected).sum() / (got | expected).sum()
    assert iou >= 0.99, iou
    assert (got != expected).sum() <= 2


def test_small_and_large_triangle_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    tri = rng.uniform(-10, 80, size=(60, 3, 2))
    tri[:30] = tri[:30, :1] + rng.uniform(-6, 6, size=(30, 3, 2))  # some small triangles
    batched = rasterize_triangles(tri, -5, -5, 70, 60)
    monkeypatch.setattr(rasterize, "SMALL_TRIANGLE_PX", 0)
    looped = rasterize_triangles(tri, -5, -5, 70, 60)
    np.testing.assert_array_equal(batched, looped)


def test_pixel_centre_rule_on_an_axis_aligned_square() -> None:
    # Square [1.4, 4.6] x [2.5, 3.49]: centres 1.5..4.5 in x, only 2.5 in y (closed edge at 2.5).
    square = np.array([[[1.4, 2.5], [4.6, 2.5], [4.6, 3.49]], [[1.4, 2.5], [4.6, 3.49], [1.4, 3.49]]])
    mask = rasterize_triangles(square, 0, 0, 6, 5)
    expected = np.zeros((5, 6), dtype=bool)
    expected[2, 1:5] = True
    np.testing.assert_array_equal(mask, expected)


def test_padding_counts_pixels_outside_the_frame() -> None:
    camera = look_down_camera()
    # A box centred on the left frame edge: world x = -W/2 / f * z_dist.
    box = trimesh.creation.box(extents=(0.2, 0.2, 0.01))
    box.apply_translation([-(W / 2) / 60.0 * 1.0, 0.0, 0.0])
    sil = silhouette(box, camera, pad=W)
    assert sil.x0 < 0
    inside = sil.count_inside(W, H)
    assert inside == sil.frame_mask(W, H).sum()
    assert inside / sil.count == pytest.approx(0.5, abs=0.05)
    no_pad = silhouette(box, camera)
    assert no_pad.count == inside


def test_triangles_behind_near_plane_are_dropped() -> None:
    camera = look_down_camera(z=0.05)
    box = trimesh.creation.box(extents=(0.3, 0.3, 0.3))  # straddles the camera plane
    sil = silhouette(box, camera, pad=10)
    # The bottom face (z = -0.15) is fully in front and still fills the frame.
    assert sil.count_inside(W, H) == W * H
    assert silhouette(box.copy().apply_translation([0, 0, 1.0]), camera).count == 0
