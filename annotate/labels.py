"""Scene description + render passes → exact per-image labels, as plain JSON-ready data.

Why labels are exact: the instance pass records, per pixel, the object hit by the ray through the
pixel centre, and the amodal masks used for visibility and truncation are rasterised with the same
pixel-centre rule (`rasterize.py`) from the very meshes that were rendered. No threshold or
anti-aliasing is involved anywhere. Conventions are documented in FORMAT.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_util
from scipy.spatial.transform import Rotation

from scenesmith.annotate.atomic import to_jsonable
from scenesmith.annotate.rasterize import silhouette
from scenesmith.procedural.description import Camera, SceneDescription, SceneObject
from scenesmith.render.passes import RenderPasses

# Annotation ids are image_id * ID_STRIDE + instance_id, so instance ids must stay below it.
ID_STRIDE = 1000
META_FORMAT_VERSION = 1
CONVENTIONS = {
    "pixel": "a pixel belongs to the surface hit by the ray through its centre; pixel (row i, col j) "
    "spans x in [j, j+1), y in [i, i+1)",
    "axes": "OpenCV camera axes: +X right, +Y down, +Z forward; world right-handed, +Z up",
    "units": "metres",
    "quaternion": "wxyz (scalar first), w >= 0",
    "depth": "float32 planar Z along camera +Z in metres, NaN background",
    "bbox": "[x, y, w, h]; bbox = visible-mask box (pycocotools toBbox), amodal_bbox = unclipped box "
    "of projected mesh vertices in continuous pixel coordinates",
}


@dataclass
class ImageLabels:
    """Everything `annotate` publishes about one image, as plain (JSON-ready) data.

    `annotations` are COCO instance records (with extra fields) for labelled objects with at least
    one visible pixel; `objects` has one entry per labelled object, including fully hidden ones
    (visibility 0, no annotation).
    """

    image_id: int
    width: int
    height: int
    annotations: list[dict[str, Any]]
    objects: list[dict[str, Any]]
    camera: dict[str, Any]
    scene: dict[str, Any]
    render: dict[str, Any]

    def image_record(self, file_name: str) -> dict[str, Any]:
        """The COCO `images` entry for this image."""
        return {"id": self.image_id, "file_name": file_name, "width": self.width, "height": self.height}

    def meta(self, files: dict[str, str]) -> dict[str, Any]:
        """The per-image meta document (the dataset's per-image source of truth).

        `files` maps a role ("image", "instance", "semantic", "depth", ...) to a path relative to
        the dataset folder; `files["image"]` becomes the COCO file_name.
        """
        return to_jsonable(
            {
                "format_version": META_FORMAT_VERSION,
                "conventions": CONVENTIONS,
                "image_id": self.image_id,
                "files": files,
                "width": self.width,
                "height": self.height,
                "scene": self.scene,
                "seed": self.scene["seed"],
                "camera": self.camera,
                "objects": self.objects,
                "render": self.render,
                "image": self.image_record(files["image"]),
                "annotations": self.annotations,
            }
        )


def pose_record(matrix: np.ndarray) -> dict[str, Any]:
    """A 4×4 rigid transform as {matrix, translation, quaternion_wxyz}.

    The quaternion is of the rotation part (the nearest rotation if the matrix carries scale),
    scalar first, sign chosen so w >= 0.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    quat = Rotation.from_matrix(matrix[:3, :3]).as_quat(canonical=True, scalar_first=True)
    return {
        "matrix": matrix.tolist(),
        "translation": matrix[:3, 3].tolist(),
        "quaternion_wxyz": quat.tolist(),
    }


def camera_record(camera: Camera) -> dict[str, Any]:
    """Intrinsics and extrinsics in OpenCV axes, plus the camera's pose in the world."""
    cam_to_world = camera.camera_to_world
    return {
        "width": camera.width,
        "height": camera.height,
        "K": np.asarray(camera.K, dtype=np.float64).tolist(),
        "world_to_camera": np.asarray(camera.world_to_camera, dtype=np.float64).tolist(),
        "camera_to_world": cam_to_world.tolist(),
        "pose_world": pose_record(cam_to_world),
        "clip_start": camera.clip_start,
        "clip_end": camera.clip_end,
        "axes": "opencv",
    }


def mask_bbox(mask: np.ndarray) -> list[int] | None:
    """Box of a bool mask as [x, y, w, h] in pycocotools `toBbox` convention; None if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a bool mask with `counts` as str (JSON-ready)."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def amodal_bbox(points_world: np.ndarray, camera: Camera) -> list[float] | None:
    """Unclipped [x, y, w, h] box of the projected points in front of the near plane (None if none)."""
    pix, z = camera.project(np.asarray(points_world, dtype=np.float64))
    pix = pix[z > camera.clip_start]
    if len(pix) == 0:
        return None
    lo, hi = pix.min(axis=0), pix.max(axis=0)
    return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


def _truncation(projected: int, in_frame: int, box: list[float] | None, width: int, height: int) -> float:
    """1 − in-frame share of the projected pixel centres.

    If the object covers no pixel centre at all (sub-pixel or behind the camera), fall back to
    whether its projected vertex box meets the frame: 0 if it does, 1 if not.
    """
    if projected > 0:
        return float(min(max(1.0 - in_frame / projected, 0.0), 1.0))
    if box is None:
        return 1.0
    x, y, w, h = box
    meets = x < width and y < height and x + w > 0 and y + h > 0
    return 0.0 if meets else 1.0


def oriented_bbox(mask: np.ndarray) -> dict[str, Any] | None:
    """Smallest rotated rectangle covering the mask's pixels (not just their centres).

    `corners` are four (x, y) points in continuous pixel coordinates (pixel i spans [i, i+1));
    `angle_deg` is OpenCV's minAreaRect angle. Used for small rotated objects seen from above
    (aircraft), where the axis-aligned box is a poor fit.
    """
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    # Every pixel contributes its four corners, so the rectangle covers whole pixels.
    corners = np.concatenate([np.c_[xs + dx, ys + dy] for dx in (0, 1) for dy in (0, 1)]).astype(np.float32)
    (cx, cy), (w, h), angle = cv2.minAreaRect(np.unique(corners, axis=0))
    box = cv2.boxPoints(((cx, cy), (w, h), angle))
    return {
        "cx": float(cx),
        "cy": float(cy),
        "w": float(w),
        "h": float(h),
        "angle_deg": float(angle),
        "corners": box.astype(float).tolist(),
    }


def heading_bbox(mask: np.ndarray, direction: np.ndarray) -> dict[str, Any] | None:
    """Rotated box of the mask's pixels aligned with an image direction (the object's heading).

    This is the oriented box of aerial datasets (DOTA style): its sides follow the object's own
    axes (for an aircraft, the fuselage), unlike the minimum-area box, which can run diagonally
    across a cross-shaped object. `angle_deg` is the heading in the image (0 = +x, 90 = +y/down).
    """
    ys, xs = np.nonzero(mask)
    norm = float(np.linalg.norm(direction))
    if len(xs) == 0 or norm < 1e-9:
        return None
    u = np.asarray(direction, float) / norm
    v = np.array([-u[1], u[0]])
    corners = np.concatenate([np.c_[xs + dx, ys + dy] for dx in (0, 1) for dy in (0, 1)]).astype(float)
    a, b = corners @ u, corners @ v
    (a0, a1), (b0, b1) = (a.min(), a.max()), (b.min(), b.max())
    box = [(a0, b0), (a1, b0), (a1, b1), (a0, b1)]
    points = [(float(p * u[0] + q * v[0]), float(p * u[1] + q * v[1])) for p, q in box]
    centre = ((a0 + a1) / 2 * u + (b0 + b1) / 2 * v).tolist()
    return {
        "cx": centre[0],
        "cy": centre[1],
        "length": float(a1 - a0),
        "width": float(b1 - b0),
        "angle_deg": float(np.degrees(np.arctan2(u[1], u[0]))),
        "corners": [list(p) for p in points],
    }


def image_heading(obj: SceneObject, camera: Camera) -> np.ndarray:
    """The object's +X axis (its forward direction) as a 2-D direction in the image."""
    origin = obj.pose[:3, 3]
    length = float(np.linalg.norm(obj.mesh.extents)) / 2 or 1.0
    tip = origin + obj.pose[:3, 0] * length
    pixels, depth = camera.project(np.stack([origin, tip]))
    if np.any(depth <= camera.clip_start):
        return np.zeros(2)
    return pixels[1] - pixels[0]


def extras_in_camera(extras: dict[str, Any], object_to_camera: np.ndarray) -> dict[str, Any]:
    """Extras that are lists of {position, normal} (e.g. grasp candidates), moved to the camera frame."""
    out: dict[str, Any] = {}
    rotation, translation = object_to_camera[:3, :3], object_to_camera[:3, 3]
    for key, items in extras.items():
        if (
            isinstance(items, list)
            and items
            and all(isinstance(i, dict) and {"position", "normal"} <= set(i) for i in items)
        ):
            out[key] = [
                i
                | {
                    "position": (rotation @ np.asarray(i["position"], float) + translation).tolist(),
                    "normal": (rotation @ np.asarray(i["normal"], float)).tolist(),
                }
                for i in items
            ]
    return out


def _visibility(visible_pixels: int, unoccluded_pixels: int) -> float:
    """Seen ÷ would-be-seen-alone, clamped to 1 (the render wins where it and the rasteriser part on a
    pixel centre). A sliver the render shows but the rasteriser covers no pixel centre of is wholly in
    sight: 1, not 0, which means hidden and would let a `visibility > t` filter drop a real box."""
    if unoccluded_pixels > 0:
        return float(min(visible_pixels / unoccluded_pixels, 1.0))
    return 1.0 if visible_pixels > 0 else 0.0


def _object_labels(
    obj: SceneObject, visible: np.ndarray, camera: Camera, image_id: int, pad: int
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(meta entry, COCO annotation or None if fully hidden) for one labelled object."""
    width, height = camera.width, camera.height
    mesh_world = obj.world_mesh
    sil = silhouette(mesh_world, camera, pad=pad)
    unoccluded = sil.count_inside(width, height)
    projected = sil.count
    n_visible = int(np.count_nonzero(visible))
    visibility = _visibility(n_visible, unoccluded)
    box_amodal = amodal_bbox(mesh_world.vertices, camera)
    # As for visibility, the render wins where it shows pixels the rasteriser put no centre on: they
    # are in the frame, so an annotated sliver at the border is not "wholly outside" (truncation 1).
    in_frame = max(unoccluded, n_visible)
    truncation = _truncation(projected + in_frame - unoccluded, in_frame, box_amodal, width, height)
    box = mask_bbox(visible)
    obb = oriented_bbox(visible)
    obb_heading = heading_bbox(visible, image_heading(obj, camera))
    object_to_camera = np.asarray(camera.world_to_camera) @ np.asarray(obj.pose)
    ann_id = image_id * ID_STRIDE + obj.instance_id
    entry = {
        "instance_id": obj.instance_id,
        "annotation_id": ann_id if n_visible > 0 else None,
        "name": obj.name,
        "category": obj.category,
        "category_id": obj.category_id,
        "iscrowd": int(bool(obj.iscrowd)),
        "visibility": visibility,
        "truncation": truncation,
        "visible_pixels": n_visible,
        "unoccluded_pixels": unoccluded,
        "projected_pixels": projected,
        "bbox": box,
        "amodal_bbox": box_amodal,
        "obb": obb,
        "obb_heading": obb_heading,
        "pose_world": pose_record(obj.pose),
        "pose_camera": pose_record(object_to_camera),
        "physical": dict(obj.physical),
        "attributes": dict(obj.attributes),
        "extras": dict(obj.extras),
        "extras_camera": extras_in_camera(obj.extras, object_to_camera),
    }
    if n_visible == 0:
        return entry, None
    annotation = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": obj.category_id,
        "segmentation": encode_rle(visible),
        "area": n_visible,
        "bbox": box,
        "iscrowd": int(bool(obj.iscrowd)),
        "instance_id": obj.instance_id,
        "visibility": visibility,
        "truncation": truncation,
        "amodal_bbox": box_amodal,
        "obb": obb,
        "obb_heading": obb_heading,
    }
    return entry, annotation


def label_image(
    desc: SceneDescription, passes: RenderPasses, image_id: int, truncation_pad: int | None = None
) -> ImageLabels:
    """Label one rendered image.

    `truncation_pad` is how many pixels the canvas used to count projected pixel centres extends
    beyond each side of the frame; default max(width, height). It caps the work for objects that
    project huge (e.g. right in front of the lens); beyond it truncation is a lower bound.
    """
    camera = desc.camera
    width, height = camera.width, camera.height
    if passes.instance.shape != (height, width):
        raise ValueError(f"instance pass is {passes.instance.shape}, camera is {(height, width)}")
    pad = max(width, height) if truncation_pad is None else truncation_pad
    annotations: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    for obj in sorted(desc.labelled_objects, key=lambda o: o.instance_id):
        if not 0 < obj.instance_id < ID_STRIDE:
            raise ValueError(f"labelled object {obj.name!r} has instance_id {obj.instance_id}, need 1..999")
        entry, annotation = _object_labels(obj, passes.instance == obj.instance_id, camera, image_id, pad)
        objects.append(entry)
        if annotation is not None:
            annotations.append(annotation)
    scene = {
        "name": desc.scene_name,
        "image_index": desc.image_index,
        "seed": desc.seed,
        "factors": desc.factors,
        "categories": desc.categories,
    }
    render = {"settings": passes.settings, "timings": passes.timings}
    return ImageLabels(
        image_id=image_id,
        width=width,
        height=height,
        annotations=to_jsonable(annotations),
        objects=to_jsonable(objects),
        camera=to_jsonable(camera_record(camera)),
        scene=to_jsonable(scene),
        render=to_jsonable(render),
    )
