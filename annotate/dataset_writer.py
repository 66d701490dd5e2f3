"""Write one rendered sample (arrays in, files out) and assemble the COCO file from all samples.

Layout and conventions are documented in FORMAT.md. Each file is written atomically and the
per-image `meta/{stem}.json` is written last, so its presence marks the sample complete: a crashed
or interrupted run can be resumed by skipping indices whose meta exists (`completed_indices`).
`annotations.json` is derived data, rebuilt from the meta files by `write_coco`.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import OpenEXR

from scenesmith.annotate.atomic import atomic_save, atomic_write_bytes, atomic_write_json
from scenesmith.annotate.labels import ImageLabels, label_image
from scenesmith.errors import UserError
from scenesmith.procedural.description import SceneDescription
from scenesmith.render.passes import RenderPasses

ImageFormat = Literal["png", "jpg"]
ANNOTATIONS_FILE = "annotations.json"
DEPTH_CHANNEL = "Z"


def sample_stem(index: int) -> str:
    """File stem of sample `index` (0-based): zero-padded so names sort in index order."""
    return f"{index:06d}"


def semantic_mask_file(stem: str) -> str:
    """Path of a sample's semantic mask, relative to the dataset folder (adapters find it from here)."""
    return f"masks/{stem}_semantic.png"


def sample_files(index: int, image_format: ImageFormat = "png") -> dict[str, str]:
    """Paths (relative to the dataset folder, POSIX separators) of sample `index`'s files."""
    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
    stem = sample_stem(index)
    return {
        "image": f"images/{stem}.{image_format}",
        "instance": f"masks/{stem}_instance.png",
        "semantic": semantic_mask_file(stem),
        "depth": f"depth/{stem}.exr",
        "meta": f"meta/{stem}.json",
    }


def meta_file_of(image: Path) -> Path:
    """The meta file of a dataset image (`DATASET/images/000003.png` → `DATASET/meta/000003.json`), by the
    layout `sample_files` writes; messages about a lost image name it, since deleting it redoes the image."""
    return image.parent.parent / Path(sample_files(0)["meta"]).parent / f"{image.stem}.json"


# The folders sample files are written into (a resume sweeps its killed writes there).
SAMPLE_FOLDERS = tuple(sorted({Path(path).parent.as_posix() for path in sample_files(0).values()}))


def _encode(ext: str, image: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, image, params or [])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {image.dtype} {image.shape} image as {ext}")
    return buf.tobytes()


def write_depth(path: str | os.PathLike[str], depth: np.ndarray) -> Path:
    """Write an H×W planar-Z depth map as a float32 single-channel ('Z') EXR, atomically."""
    depth = np.ascontiguousarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be H×W, got {depth.shape}")
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}

    def write(tmp: Path) -> None:
        with OpenEXR.File(header, {DEPTH_CHANNEL: depth}) as exr:
            exr.write(str(tmp))

    return atomic_save(path, write)


def read_depth(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a depth EXR written by `write_depth`: H×W float32, NaN where nothing was hit."""
    with OpenEXR.File(str(path)) as exr:
        return np.array(exr.channels()[DEPTH_CHANNEL].pixels, dtype=np.float32)


def read_instance(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an instance mask PNG: H×W int32 instance ids, 0 = background."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:  # cv2 says nothing more: missing or not a PNG it can read
        raise FileNotFoundError(errno.ENOENT, "missing or unreadable instance mask", str(path))
    return image.astype(np.int32)


def semantic_map(instance: np.ndarray, desc: SceneDescription) -> np.ndarray:
    """H×W uint8 category ids: the category of the object owning each pixel, 0 if none/unlabelled."""
    ids = [o.instance_id for o in desc.objects]
    size = max([int(instance.max(initial=0)), *ids]) + 1
    lut = np.zeros(size, dtype=np.uint8)
    for obj in desc.labelled_objects:
        if not 0 < obj.category_id <= 255:
            raise ValueError(f"category_id {obj.category_id} of {obj.name!r} does not fit a uint8 mask")
        lut[obj.instance_id] = obj.category_id
    return lut[instance]


def write_sample(
    out_dir: str | os.PathLike[str],
    index: int,
    desc: SceneDescription,
    passes: RenderPasses,
    *,
    image_format: ImageFormat = "png",
    jpeg_quality: int = 95,
    truncation_pad: int | None = None,
    labels: ImageLabels | None = None,
) -> dict[str, Any]:
    """Label (unless `labels` are given) and write sample `index` (image_id = index + 1); return its meta.

    Writes image, instance and semantic masks, depth, then meta (last, marking completion).
    """
    out = Path(out_dir)
    files = sample_files(index, image_format)
    rgb = np.asarray(passes.rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be H×W×3 uint8, got {rgb.dtype} {rgb.shape}")
    instance = np.asarray(passes.instance)
    if instance.min(initial=0) < 0 or instance.max(initial=0) > np.iinfo(np.uint16).max:
        raise ValueError("instance ids must fit a uint16 PNG")
    size = (desc.camera.height, desc.camera.width)
    for name, shape in (
        ("rgb", rgb.shape[:2]),
        ("instance", instance.shape),
        ("depth", np.shape(passes.depth)),
    ):
        if tuple(shape) != size:
            raise ValueError(f"{name} pass is {tuple(shape)}, camera is {size}")
    semantic = semantic_map(instance, desc)  # a category that fits no mask fails before any file is written
    if labels is None:
        labels = label_image(desc, passes, image_id=index + 1, truncation_pad=truncation_pad)
    elif labels.image_id != index + 1:
        raise ValueError(f"labels are for image id {labels.image_id}, sample {index} needs {index + 1}")

    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if image_format == "jpg":
        image_bytes = _encode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    else:
        image_bytes = _encode(".png", bgr)
    atomic_write_bytes(out / files["image"], image_bytes)
    atomic_write_bytes(out / files["instance"], _encode(".png", instance.astype(np.uint16)))
    atomic_write_bytes(out / files["semantic"], _encode(".png", semantic))
    write_depth(out / files["depth"], passes.depth)
    meta = labels.meta({k: v for k, v in files.items() if k != "meta"})
    atomic_write_json(out / files["meta"], meta)
    return meta


def redo_advice(meta_path: str | os.PathLike[str]) -> str:
    """How to get one image made again (`meta_path`: its meta file, or "it" when the message names it).
    A run redoes only images without a meta file (`completed_indices`), so rerunning alone keeps a
    sample whose picture or mask was lost."""
    return (
        f"delete {meta_path} and rerun the command that made the dataset (generate, or adapt apply for an "
        "adapted copy) to redo that image"
    )


def completed_indices(out_dir: str | os.PathLike[str]) -> set[int]:
    """Indices of samples whose meta file exists (i.e. fully written)."""
    return {int(p.stem) for p in _meta_files(out_dir)}


def _meta_files(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Finished meta files only (`000042.json`), never a writer's temp file."""
    return [p for p in (Path(out_dir) / "meta").glob("*.json") if p.stem.isdigit()]


def load_metas(
    out_dir: str | os.PathLike[str], keys: Iterable[str] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Per-image meta documents, sorted by image id: only their `keys` (all when None), and only the
    first `limit` images.

    Why `keys`: a retail-shelf meta holds ~1 MB of grasp candidates once parsed; reading a 10,000-image
    set whole to assemble its COCO file took gigabytes. Each file is parsed and pruned in turn.
    """
    paths = sorted(_meta_files(out_dir), key=lambda path: int(path.stem))[:limit]
    wanted = None if keys is None else {"image_id", *keys}
    metas = []
    for path in paths:
        try:
            meta = json.loads(path.read_text())
            meta["image_id"]  # noqa: B018 - every meta names its image
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}: damaged meta file ({exc}); {redo_advice('it')}") from None
        metas.append(meta if wanted is None else {key: meta[key] for key in wanted if key in meta})
    return sorted(metas, key=lambda m: m["image_id"])


def require_current_coco(out_dir: str | os.PathLike[str], coco: dict[str, Any]) -> None:
    """Refuse a dataset whose `annotations.json` (`coco`, as read) lags its finished images.

    Why: `write_coco` runs when a run ends; one stopped mid-way after growing a finished set leaves the
    older file, which lists fewer images than `meta/` holds, and an export of it would silently miss
    them while `stats` and the contact sheet (which read `meta/`) count them. A folder with no `meta/`
    (a plain COCO folder) has nothing to lag."""
    if not (Path(out_dir) / "meta").is_dir():
        return
    finished = len(completed_indices(out_dir))
    if len(coco["images"]) != finished:
        raise UserError(
            f"{Path(out_dir) / ANNOTATIONS_FILE}: lists {len(coco['images'])} images, but {finished} are "
            "finished (meta/): a run stopped before it rewrote this file; run the same command again "
            "to finish the dataset (it rewrites the file)"
        )


def write_coco(
    out_dir: str | os.PathLike[str],
    categories: list[dict[str, Any]] | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Assemble `annotations.json` (COCO instances) from all meta files, atomically.

    `categories` defaults to the scene's categories recorded in the meta files (which must then
    agree). Annotations carry extra fields (visibility, truncation, amodal_bbox, instance_id);
    COCO tools ignore them.
    """
    out = Path(out_dir)
    metas = load_metas(out, keys=("image", "annotations", "scene"))
    image_ids = [m["image_id"] for m in metas]
    if len(set(image_ids)) != len(image_ids):
        raise ValueError("duplicate image ids among meta files")
    if categories is None:
        recorded = {json.dumps(m["scene"]["categories"], sort_keys=True) for m in metas}
        if len(recorded) != 1:
            raise ValueError("pass `categories`: meta files record none or disagree")
        categories = metas[0]["scene"]["categories"]
    coco = {
        "info": info if info is not None else {"description": "scenesmith synthetic dataset"},
        "licenses": [],
        "images": [m["image"] for m in metas],
        "annotations": [a for m in metas for a in m["annotations"]],
        "categories": categories,
    }
    return atomic_write_json(out / ANNOTATIONS_FILE, coco, indent=None)
