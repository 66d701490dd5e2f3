"""Dataset statistics, and how far a synthetic dataset is from a real one, statistic by statistic.

A detector trained on synthetic images mostly fails on real ones where the two sets differ in
ways the scene rules control: object sizes and positions, objects per image, class balance,
lighting, blur. Measuring each distribution separately and ranking the gaps (1-D Wasserstein
distance divided by the pooled spread, so box pixels and brightness levels compare) tells a user
which rule to change first.

Plain data in, plain data out, no bpy: datasets are read from a COCO file plus its images (and,
for scenesmith folders, `meta/*.json`, which also carries every sampled scene factor); numbers
come back as numpy arrays and dicts. The loaders drop every image outside the requested split
before anything opens a file, so a held-out test split never leaks into the comparison.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.stats import wasserstein_distance

from scenesmith.annotate.atomic import atomic_write_json, read_json
from scenesmith.annotate.coco_schema import coco_file_of
from scenesmith.annotate.coco_schema import load_coco as read_coco
from scenesmith.errors import UserError

FORMAT_VERSION = 1
IMAGE_SHORT_SIDE = 320  # images are compared at one size, so resolution doesn't dominate sharpness
COLOR_BINS = 32
HEATMAP_BINS = 16
SUMMARY_BINS = 30
NEAR_DUPLICATE_DISTANCE = 4  # Hamming distance (of 64 bits) at or below which two images are near-duplicates
MAX_DUPLICATE_EXAMPLES = 20

# Every 1-D statistic, in report order, with the label used in tables and plots.
STATISTICS: dict[str, str] = {
    "box_width_px": f"box width (px at {IMAGE_SHORT_SIDE})",
    "box_height_px": f"box height (px at {IMAGE_SHORT_SIDE})",
    "box_width_frac": "box width / image width",
    "box_height_frac": "box height / image height",
    "box_aspect": "box aspect (w / h)",
    "box_area_px": f"box area w·h (px² at {IMAGE_SHORT_SIDE})",
    "box_area_frac": "box area / image area",
    "box_center_x": "box centre x / image width",
    "box_center_y": "box centre y / image height",
    "objects_per_image": "objects per image",
    "box_neighbour_distance": "nearest other box centre / box size",
    "visibility": "visibility",
    "truncation": "truncation",
    "brightness": "brightness (mean gray, 0–255)",
    "saturation": "saturation (mean HSV S, 0–255)",
    "contrast": "contrast (std of gray)",
    "sharpness": "sharpness (var of Laplacian)",
    "object_brightness": "object brightness (mean gray in box core)",
    "object_saturation": "object saturation (mean HSV S in box core)",
    "object_contrast": "object contrast (std of gray in box core)",
    "object_surround_contrast": "object vs surround (|core − ring| gray)",
}
BOX_SIZE_STATISTICS = (
    "box_width_px",
    "box_height_px",
    "box_width_frac",
    "box_height_frac",
    "box_area_px",
    "box_area_frac",
)
CHANNELS = ("r", "g", "b")
OBJECT_CORE_FRACTION = (
    0.6  # central part of a box measured as "the object": loose boxes add little background
)
OBJECT_RING_FRACTION = 0.5  # the surround ring reaches this fraction of the box size beyond each side

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class ImageEntry:
    """One selected image: where its pixels are and the size its boxes refer to."""

    image_id: int
    file_name: str
    path: Path
    width: int
    height: int


@dataclass
class Dataset:
    """The selected images of a dataset with their annotations (COCO records, bbox = [x, y, w, h])."""

    name: str
    images: list[ImageEntry]
    annotations: list[dict[str, Any]]
    categories: dict[int, str]
    factors: list[dict[str, Any]] = field(default_factory=list)  # meta `scene.factors`, one per image


@dataclass
class DatasetStats:
    """All statistics of one dataset. `values` holds the samples of every 1-D statistic."""

    name: str
    num_images: int
    num_annotations: int
    values: dict[str, np.ndarray]
    class_counts: dict[str, int]
    iscrowd_fraction: float | None
    center_heatmap: np.ndarray  # (HEATMAP_BINS, HEATMAP_BINS) box counts; rows = y, columns = x
    color_histogram: np.ndarray  # (3, COLOR_BINS) per-image normalised histograms, averaged; R, G, B
    near_duplicates: dict[str, Any]
    factors: dict[str, np.ndarray]
    categorical_factors: dict[str, dict[str, int]]


@dataclass(frozen=True)
class Distance:
    """Gap between the synthetic and the real distribution of one statistic.

    `kind` is "wasserstein" (raw in the statistic's units; normalised = raw / scale with scale =
    std of the equal-weight mixture of both sets, in [0, 2]; per_real_std = raw / real std) or
    "total_variation" (already in [0, 1]; normalised = raw).
    """

    statistic: str
    kind: str
    raw: float
    normalised: float
    scale: float | None
    per_real_std: float | None
    synthetic_mean: float | None
    real_mean: float | None


@dataclass
class StatsReport:
    """What `run_stats` computed and wrote."""

    synthetic: DatasetStats
    real: DatasetStats | None
    distances: list[Distance]
    json_path: Path
    plots: list[Path]
    table: str


# --------------------------------------------------------------------------------------------
# Loading


def _image_of(meta: Any, path: Path, root: Path) -> ImageEntry:
    """The image a meta file describes; a meta file damaged by hand or by a tool is named."""
    try:
        image = meta["files"]["image"]
        return ImageEntry(int(meta["image_id"]), image, root / image, int(meta["width"]), int(meta["height"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: not a scenesmith meta file ({type(exc).__name__}: {exc})") from None


def _resolve_image(root: Path, file_name: str) -> Path:
    """COCO file names are relative to the json's folder; many COCO sets keep them in images/."""
    path = root / file_name
    if not path.exists() and (root / "images" / file_name).exists():
        return root / "images" / file_name
    return path


ALL_IMAGES = "all"  # the --split value that takes every image of a COCO file


def default_split(json_path: Path) -> str | None:
    """'train' for a COCO file whose images carry a `split` field (test photos are never compared by
    default); None (every image) for a plain COCO file, which has no other images to offer."""
    coco = read_json(json_path) if json_path.is_file() else {}
    images = coco.get("images") if isinstance(coco, dict) else None
    if isinstance(images, list) and not any(isinstance(r, dict) and "split" in r for r in images):
        return None
    return "train"  # and load_coco names what is wrong with a file that is not COCO


def load_coco(json_path: str | Path, split: str | None = None, *, labelled: bool = False) -> Dataset:
    """A COCO file and its images; with `split`, only images whose `split` field equals it.

    The file is read and checked by `coco_schema.load_coco`, the one COCO reader, so an annotation naming
    no category of the file is refused here, by file and record, not met as a KeyError by a caller.
    `labelled`: refuse a file without annotations and categories (else an unlabelled set has none).
    Unselected images are dropped before any path is resolved, so their files are never touched.
    """
    path = Path(json_path)
    if not path.is_file():
        raise UserError(f"{path}: no such COCO file")
    coco = read_coco(path, labelled=labelled)
    records = coco["images"]
    if not records:  # statistics of nothing read as a comparison that found no gap
        raise UserError(f"{path}: holds no image")
    if split is not None:
        records = [r for r in records if r.get("split") == split]
        if not records:
            splits = sorted({str(r["split"]) for r in coco["images"] if "split" in r})
            raise UserError(
                f"{path}: no image has split {split!r} (splits present: {', '.join(splits) or 'none'})"
            )
    images = sorted(
        (
            ImageEntry(
                int(r["id"]),
                str(r["file_name"]),
                _resolve_image(path.parent, str(r["file_name"])),
                int(r["width"]),
                int(r["height"]),
            )
            for r in records
        ),
        key=lambda im: im.image_id,
    )
    selected = {im.image_id for im in images}
    annotations = [a for a in coco["annotations"] if a["image_id"] in selected]
    categories = {int(c["id"]): str(c["name"]) for c in coco["categories"]}
    name = path.parent.name if split is None else f"{path.parent.name} ({split})"
    return Dataset(name, images, annotations, categories)


def load_scenesmith(folder: str | Path) -> Dataset:
    """A scenesmith dataset folder, read from its meta files (the per-image source of truth).

    Only complete images count (an image is complete iff its meta file exists); the meta files
    also carry the sampled scene factors, which a plain COCO file does not.
    """
    root = Path(folder)
    paths = sorted(p for p in (root / "meta").glob("*.json") if not p.name.startswith("."))
    if not paths:
        raise UserError(f"{root}: no finished image (meta/*.json)")
    read = [(_image_of(meta, path, root), meta) for path in paths for meta in [read_json(path)]]
    read.sort(key=lambda entry: entry[0].image_id)
    images, metas = [image for image, _ in read], [meta for _, meta in read]
    categories = {int(c["id"]): str(c["name"]) for m in metas for c in m["scene"].get("categories", [])}
    annotations = [a for m in metas for a in m["annotations"]]
    factors = [m["scene"].get("factors", {}) for m in metas]
    return Dataset(root.resolve().name, images, annotations, categories, factors)


def load_dataset(path: str | Path) -> Dataset:
    """A scenesmith folder (meta/), a folder with annotations.json, or a COCO json file."""
    p = Path(path)
    if p.is_dir():
        if (p / "meta").is_dir():
            return load_scenesmith(p)
        if (p / "annotations.json").is_file():
            return load_coco(p / "annotations.json")
        raise UserError(f"{p}: not a dataset (no meta/ folder and no annotations.json)")
    if p.is_file():
        return load_coco(p)
    raise UserError(f"{p}: no such dataset folder or COCO file")


# --------------------------------------------------------------------------------------------
# Statistics


def box_statistics(dataset: Dataset, short_side: int = IMAGE_SHORT_SIDE) -> dict[str, np.ndarray]:
    """Box geometry per annotation, objects per image, and visibility/truncation where recorded.

    Pixel sizes are measured at the common analysis size (images scaled to `short_side`), like the
    image statistics, so a 320 px synthetic set and 640 px photos compare like with like.
    """
    sizes = {im.image_id: (im.width, im.height) for im in dataset.images}
    anns = dataset.annotations
    boxes = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    frame = np.array([sizes[a["image_id"]] for a in anns], dtype=np.float64).reshape(-1, 2)
    w, h = boxes[:, 2], boxes[:, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        aspect = w / h
    scale = short_side / frame.min(axis=1) if len(frame) else np.ones(0)
    per_image = Counter(a["image_id"] for a in anns)
    values = {
        "box_width_px": w * scale,
        "box_height_px": h * scale,
        "box_width_frac": w / frame[:, 0],
        "box_height_frac": h / frame[:, 1],
        "box_aspect": aspect[np.isfinite(aspect)],  # a zero-height box has no aspect
        "box_area_px": w * h * scale**2,
        "box_area_frac": w * h / (frame[:, 0] * frame[:, 1]),
        "box_center_x": (boxes[:, 0] + w / 2) / frame[:, 0],
        "box_center_y": (boxes[:, 1] + h / 2) / frame[:, 1],
        "objects_per_image": np.array([per_image.get(im.image_id, 0) for im in dataset.images], np.float64),
        "box_neighbour_distance": neighbour_distances(anns),
    }
    for key in ("visibility", "truncation"):
        recorded = [a[key] for a in anns if a.get(key) is not None]
        if recorded:
            values[key] = np.array(recorded, dtype=np.float64)
    return values


def neighbour_distances(annotations: list[dict[str, Any]]) -> np.ndarray:
    """Per box in an image with others: distance to the nearest other box centre ÷ its size √(w·h).

    Why: how crowded the objects are. Touching dice (≈ 1) put a neighbour's pips inside a box, which a
    detector must learn to ignore; a synthetic set that scatters its objects never teaches that, and
    box sizes and counts alone do not show it.
    """
    by_image: dict[int, list[list[float]]] = {}
    for a in annotations:
        by_image.setdefault(a["image_id"], []).append(a["bbox"])
    ratios = []
    for boxes in by_image.values():
        if len(boxes) < 2:
            continue
        b = np.asarray(boxes, np.float64)
        centres, sizes = b[:, :2] + b[:, 2:] / 2, np.sqrt(b[:, 2] * b[:, 3])
        distance = np.linalg.norm(centres[:, None] - centres[None], axis=2)
        np.fill_diagonal(distance, np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = distance.min(axis=1) / sizes
        ratios.append(ratio[np.isfinite(ratio)])  # a zero-area box has no size to relate to
    return np.concatenate(ratios) if ratios else np.zeros(0)


def center_heatmap(center_x: np.ndarray, center_y: np.ndarray, bins: int = HEATMAP_BINS) -> np.ndarray:
    """2-D histogram of normalised box centres; rows are y (top first) so it displays like the image."""
    counts, _, _ = np.histogram2d(
        np.clip(center_y, 0.0, 1.0), np.clip(center_x, 0.0, 1.0), bins=bins, range=[[0, 1], [0, 1]]
    )
    return counts


def resize_short_side(image: np.ndarray, short_side: int = IMAGE_SHORT_SIDE) -> np.ndarray:
    """Resize so the shorter side is `short_side` px (area averaging when shrinking)."""
    h, w = image.shape[:2]
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def image_statistics(bgr: np.ndarray, short_side: int = IMAGE_SHORT_SIDE) -> dict[str, Any]:
    """Brightness, saturation, contrast, sharpness and RGB histograms of one 8-bit BGR image."""
    resized = resize_short_side(bgr, short_side)
    gray = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)
    hsv = cv2.cvtColor(resized, cv2.COLOR_BGR2HSV)
    rgb = resized[:, :, ::-1].reshape(-1, 3)
    histogram = np.stack(
        [np.bincount(rgb[:, c] // (256 // COLOR_BINS), minlength=COLOR_BINS) for c in range(3)]
    ).astype(np.float64)
    return {
        "brightness": float(gray.mean()),
        "saturation": float(hsv[:, :, 1].mean()),
        "contrast": float(gray.std()),
        "sharpness": float(cv2.Laplacian(gray, cv2.CV_64F).var()),
        "color_histogram": histogram / histogram.sum(axis=1, keepdims=True),
    }


def _clipped(x0: float, y0: float, x1: float, y1: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Pixel bounds of a float rectangle, clipped to the image (possibly empty)."""
    h, w = shape[:2]
    return (
        min(max(round(x0), 0), w),
        min(max(round(y0), 0), h),
        min(max(round(x1), 0), w),
        min(max(round(y1), 0), h),
    )


def object_statistics(bgr: np.ndarray, boxes: np.ndarray) -> dict[str, np.ndarray]:
    """How each boxed object looks: brightness, saturation and contrast of its core, and how much
    it stands out from its surround.

    Why: whole-image statistics are dominated by the background, so washed-out or too-dark objects
    on a matching background go unnoticed — yet the object's own look (and the contrast of its
    details, e.g. pips on a die) is what a detector learns. The core is the central
    `OBJECT_CORE_FRACTION` of the box, so loosely drawn real boxes and tight rendered ones measure
    the same region; the ring is the band up to `OBJECT_RING_FRACTION` of the box size outside it.
    `boxes` are [x, y, w, h] in the pixels of `bgr`; boxes with no core pixels are skipped.
    """
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float64)
    saturation = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)[:, :, 1].astype(np.float64)
    rows: dict[str, list[float]] = defaultdict(list)
    margin = (1 - OBJECT_CORE_FRACTION) / 2
    for x, y, w, h in boxes:
        cx0, cy0, cx1, cy1 = _clipped(
            x + margin * w, y + margin * h, x + (1 - margin) * w, y + (1 - margin) * h, gray.shape
        )
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        core = gray[cy0:cy1, cx0:cx1]
        rows["object_brightness"].append(float(core.mean()))
        rows["object_saturation"].append(float(saturation[cy0:cy1, cx0:cx1].mean()))
        rows["object_contrast"].append(float(core.std()))
        rx0, ry0, rx1, ry1 = _clipped(
            x - OBJECT_RING_FRACTION * w,
            y - OBJECT_RING_FRACTION * h,
            x + (1 + OBJECT_RING_FRACTION) * w,
            y + (1 + OBJECT_RING_FRACTION) * h,
            gray.shape,
        )
        bx0, by0, bx1, by1 = _clipped(x, y, x + w, y + h, gray.shape)
        outer = gray[ry0:ry1, rx0:rx1]
        ring_sum = outer.sum() - gray[by0:by1, bx0:bx1].sum()
        ring_count = outer.size - (by1 - by0) * (bx1 - bx0)
        if ring_count > 0:
            rows["object_surround_contrast"].append(abs(float(core.mean()) - ring_sum / ring_count))
    return {key: np.array(values) for key, values in rows.items()}


def perceptual_hash(gray: np.ndarray) -> np.ndarray:
    """64-bit pHash as 8 bytes: signs of the 8×8 lowest DCT frequencies of a 32×32 thumbnail vs
    their median (the imagehash.phash recipe). Robust to resizing, compression and mild noise."""
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8]
    return np.packbits((low > np.median(low)).ravel())


def near_duplicates(
    hashes: np.ndarray, names: list[str], threshold: int = NEAR_DUPLICATE_DISTANCE, block: int = 256
) -> dict[str, Any]:
    """Pairs of images whose hashes differ in at most `threshold` bits.

    Compared block by block (memory O(block · n)), so ten thousand images stay cheap.
    """
    n = len(hashes)
    has_duplicate = np.zeros(n, dtype=bool)
    pair_count = 0
    examples: list[dict[str, Any]] = []
    for start in range(0, n, block):
        rows = hashes[start : start + block]
        dist = _POPCOUNT[rows[:, None, :] ^ hashes[None, :, :]].sum(axis=2, dtype=np.int32)
        close = dist <= threshold
        close[np.arange(len(rows)), np.arange(start, start + len(rows))] = False  # an image vs itself
        has_duplicate[start : start + len(rows)] |= close.any(axis=1)
        ii, jj = np.nonzero(close)
        upper = jj > ii + start
        pair_count += int(upper.sum())
        for i, j in zip(ii[upper], jj[upper], strict=True):
            if len(examples) >= MAX_DUPLICATE_EXAMPLES:
                break
            examples.append({"a": names[start + i], "b": names[j], "distance": int(dist[i, j])})
    total_pairs = n * (n - 1) // 2
    return {
        "hash": "pHash 64-bit (DCT of 32x32 gray, 8x8 low frequencies vs median)",
        "threshold": threshold,
        "pairs": pair_count,
        "pair_fraction": pair_count / total_pairs if total_pairs else 0.0,
        "images_with_near_duplicate": int(has_duplicate.sum()),
        "image_fraction": float(has_duplicate.mean()) if n else 0.0,
        "examples": examples,
    }


def _flatten(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    """Nested factor values → (dotted name, scalar); list items get [i] suffixes."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flatten(f"{name}.{key}", item)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _flatten(f"{name}[{i}]", item)
    else:
        yield name, value


def factor_values(
    factors: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, int]]]:
    """Numeric factors (bools as 0/1) as sample arrays; string factors as value counts.

    A factor missing from some images (e.g. only sampled when a tray exists) has fewer samples.
    """
    numeric: dict[str, list[float]] = defaultdict(list)
    categorical: dict[str, Counter[str]] = defaultdict(Counter)
    for per_image in factors:
        for name, value in per_image.items():
            for key, item in _flatten(name, value):
                if isinstance(item, bool | int | float):
                    numeric[key].append(float(item))
                elif isinstance(item, str):
                    categorical[key][item] += 1
    return (
        {k: np.array(v) for k, v in sorted(numeric.items())},
        {k: dict(sorted(v.items())) for k, v in sorted(categorical.items())},
    )


def compute_stats(dataset: Dataset, short_side: int = IMAGE_SHORT_SIDE) -> DatasetStats:
    """All statistics of `dataset`; opens each of its (selected) images exactly once."""
    values = box_statistics(dataset, short_side)
    per_image: dict[str, list[float]] = defaultdict(list)
    histograms = []
    per_object: dict[str, list[np.ndarray]] = defaultdict(list)
    boxes_by_image: dict[int, list[list[float]]] = defaultdict(list)
    for ann in dataset.annotations:
        if not ann.get("iscrowd", 0):  # crowd boxes are ignore regions, not one object's look
            boxes_by_image[ann["image_id"]].append(ann["bbox"])
    hashes = np.zeros((len(dataset.images), 8), dtype=np.uint8)
    for k, entry in enumerate(dataset.images):
        bgr = cv2.imread(str(entry.path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise UserError(f"{entry.path}: missing or unreadable image")
        resized = resize_short_side(bgr, short_side)
        stats = image_statistics(resized, short_side)
        histograms.append(stats.pop("color_histogram"))
        for key, value in stats.items():
            per_image[key].append(value)
        boxes = np.array(boxes_by_image.get(entry.image_id, []), dtype=np.float64).reshape(-1, 4)
        boxes *= np.array(resized.shape[1::-1] * 2) / np.array(bgr.shape[1::-1] * 2)
        for key, value in object_statistics(resized, boxes).items():
            per_object[key].append(value)
        hashes[k] = perceptual_hash(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    values.update({k: np.array(v) for k, v in per_image.items()})
    values.update({k: np.concatenate(v) for k, v in per_object.items()})

    names = [dataset.categories.get(a["category_id"], str(a["category_id"])) for a in dataset.annotations]
    counted = Counter(names)
    ordered = list(dataset.categories.values()) + sorted(set(counted) - set(dataset.categories.values()))
    crowd = [int(a.get("iscrowd", 0)) for a in dataset.annotations]
    factors, categorical = factor_values(dataset.factors)
    return DatasetStats(
        name=dataset.name,
        num_images=len(dataset.images),
        num_annotations=len(dataset.annotations),
        values=values,
        class_counts={n: counted.get(n, 0) for n in ordered},
        iscrowd_fraction=float(np.mean(crowd)) if crowd else None,
        center_heatmap=center_heatmap(values["box_center_x"], values["box_center_y"]),
        color_histogram=np.mean(histograms, axis=0) if histograms else np.zeros((3, COLOR_BINS)),
        near_duplicates=near_duplicates(hashes, [im.file_name for im in dataset.images]),
        factors=factors,
        categorical_factors=categorical,
    )


# --------------------------------------------------------------------------------------------
# Distances


def _moments(values: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    mean = float(np.average(values, weights=weights))
    return mean, float(np.sqrt(np.average((values - mean) ** 2, weights=weights)))


def _wasserstein(
    statistic: str,
    s: np.ndarray,
    r: np.ndarray,
    s_weights: np.ndarray | None = None,
    r_weights: np.ndarray | None = None,
) -> Distance:
    """W1 between synthetic and real, normalised by the std of their equal-weight mixture.

    Why the mixture and not the real std alone: real labels are often (near) constant in some
    statistic (square boxes → aspect exactly 1), and a tiny real std would rank a negligible gap
    first. The mixture std is at least half the gap between the means, so the normalised value
    stays in [0, 2] (0: same distribution; ~2: disjoint point masses) and ranks like with like.
    The distance in real-std units is kept as `per_real_std`.
    """
    raw = float(wasserstein_distance(s, r, s_weights, r_weights))
    (ms, ss), (mr, sr) = _moments(s, s_weights), _moments(r, r_weights)
    scale = math.sqrt((ss**2 + sr**2) / 2 + (ms - mr) ** 2 / 4)
    return Distance(
        statistic,
        "wasserstein",
        raw,
        raw / scale if scale > 0 else 0.0,  # scale 0: both the same constant, so raw is 0 too
        scale,
        raw / sr if sr > 0 else None,
        ms,
        mr,
    )


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """½ Σ |p − q| over the union of keys, after normalising each to sum 1 (0 = same, 1 = disjoint)."""
    sp, sq = sum(p.values()), sum(q.values())
    keys = set(p) | set(q)
    return 0.5 * sum(abs(p.get(k, 0) / sp - q.get(k, 0) / sq) for k in keys)


def compare(synthetic: DatasetStats, real: DatasetStats) -> list[Distance]:
    """Distances per statistic, largest normalised gap first.

    Each 1-D statistic present in both sets: Wasserstein-1 (raw and normalised, see `_wasserstein`).
    Colour histograms: Wasserstein-1 between per-channel intensity distributions. Class balance
    and the centre heatmap: total-variation distance.
    """
    distances: list[Distance] = []
    for name in STATISTICS:
        s, r = synthetic.values.get(name), real.values.get(name)
        if s is not None and r is not None and len(s) and len(r):
            distances.append(_wasserstein(name, s, r))
    if synthetic.num_images and real.num_images:
        centres = (np.arange(COLOR_BINS) + 0.5) * (256 / COLOR_BINS)
        for c, channel in enumerate(CHANNELS):
            distances.append(
                _wasserstein(
                    f"color_{channel}",
                    centres,
                    centres,
                    synthetic.color_histogram[c],
                    real.color_histogram[c],
                )
            )
    if synthetic.num_annotations and real.num_annotations:
        tv = total_variation(synthetic.class_counts, real.class_counts)
        distances.append(Distance("class_balance", "total_variation", tv, tv, None, None, None, None))
        heat = total_variation(_cells(synthetic.center_heatmap), _cells(real.center_heatmap))
        distances.append(Distance("center_heatmap", "total_variation", heat, heat, None, None, None, None))
    return sorted(distances, key=lambda d: d.normalised, reverse=True)


def _cells(heatmap: np.ndarray) -> dict[str, float]:
    return {str(i): float(v) for i, v in enumerate(heatmap.ravel())}


# --------------------------------------------------------------------------------------------
# Report


def label(name: str) -> str:
    """Human-readable name of a statistic or distance, for tables and plot titles."""
    if name.startswith("color_"):
        return f"{name[-1].upper()} channel intensity (0–255)"
    return {"class_balance": "class balance (TV)", "center_heatmap": "box centre heatmap (TV)"}.get(
        name, STATISTICS.get(name, name)
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"


def distance_table(distances: list[Distance], synthetic_name: str, real_name: str) -> str:
    """Plain-text table, largest normalised gap first: what to change in the scene rules first."""
    header = (
        "statistic",
        f"mean {synthetic_name}",
        f"mean {real_name}",
        "distance",
        "÷ real std",
        "normalised",
    )
    rows = [
        (
            label(d.statistic),
            _fmt(d.synthetic_mean),
            _fmt(d.real_mean),
            _fmt(d.raw),
            _fmt(d.per_real_std),
            f"{d.normalised:.3f}",
        )
        for d in distances
    ]
    note = (
        "distance: Wasserstein-1 in the statistic's units, or total variation in [0, 1] (TV); "
        "normalised: W1 ÷ std of both sets pooled with equal weight, in [0, 2]"
    )
    return _table(header, rows) + "\n" + note


def summary_table(stats: DatasetStats) -> str:
    """Plain-text per-statistic summary of one dataset (when there is nothing to compare with)."""
    header = ("statistic", "n", "mean", "std", "min", "median", "max")
    rows = [
        (label(name), str(len(v)), *(_fmt(float(f(v))) for f in (np.mean, np.std, np.min, np.median, np.max)))
        for name, v in stats.values.items()
        if len(v)
    ]
    dup = stats.near_duplicates
    extra = (
        f"{stats.num_images} images, {stats.num_annotations} boxes; classes: "
        + ", ".join(f"{k} {v}" for k, v in stats.class_counts.items())
        + f"\nnear-duplicates (pHash distance ≤ {dup['threshold']}): {dup['pairs']} pairs, "
        f"{dup['image_fraction']:.1%} of images"
    )
    return _table(header, rows) + "\n" + extra


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def summarise(values: np.ndarray, bins: int = SUMMARY_BINS) -> dict[str, Any]:
    """Count, moments, percentiles and a histogram of one sample array (JSON-ready)."""
    if len(values) == 0:
        return {"count": 0}
    counts, edges = np.histogram(values, bins=bins)
    p5, p25, p50, p75, p95 = np.percentile(values, [5, 25, 50, 75, 95])
    return {
        "count": len(values),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "p5": p5,
        "p25": p25,
        "median": p50,
        "p75": p75,
        "p95": p95,
        "max": float(values.max()),
        "histogram": {"edges": edges, "counts": counts},
    }


def stats_to_json(stats: DatasetStats) -> dict[str, Any]:
    """Every number of `stats`, with sample arrays reduced to summaries and histograms."""
    total = sum(stats.class_counts.values())
    return {
        "name": stats.name,
        "num_images": stats.num_images,
        "num_annotations": stats.num_annotations,
        "statistics": {k: summarise(v) for k, v in stats.values.items()},
        "class_counts": stats.class_counts,
        "class_fractions": {k: v / total if total else 0.0 for k, v in stats.class_counts.items()},
        "iscrowd_fraction": stats.iscrowd_fraction,
        "center_heatmap": {
            "bins": HEATMAP_BINS,
            "layout": "rows = y (top first), columns = x",
            "counts": stats.center_heatmap,
        },
        "color_histogram": {
            "bins": COLOR_BINS,
            "range": [0, 256],
            **{c: stats.color_histogram[i] for i, c in enumerate(CHANNELS)},
        },
        "near_duplicates": stats.near_duplicates,
        "factors": {k: summarise(v) for k, v in stats.factors.items()},
        "categorical_factors": stats.categorical_factors,
    }


def _reference(against: Path, split: str | None) -> tuple[Path, str | None, Dataset]:
    """(the file or folder read, the split taken, its images) of `--against`: a COCO file, a real set's
    folder as `benchmark --real` takes it (its annotations.json), or a scenesmith dataset folder (another
    build, an adapted copy), which has no splits and is read from its meta files."""
    if (against / "meta").is_dir():
        if split not in (None, ALL_IMAGES):
            raise UserError(
                f"{against}: a scenesmith dataset folder has no splits, so split {split!r} cannot be taken "
                "from it"
            )
        return against, None, load_scenesmith(against)
    coco = coco_file_of(against) or against
    if split == ALL_IMAGES:
        split = None
    elif split is None:
        split = default_split(coco)
    return coco, split, load_coco(coco, split)


def run_stats(
    dataset: str | Path,
    against: str | Path | None = None,
    split: str | None = None,
    out_dir: str | Path | None = None,
) -> StatsReport:
    """Statistics of `dataset` (optionally vs the `split` images of `against`: a COCO file, a real set's
    folder or a scenesmith dataset folder), written to `out_dir` (default: <dataset>/stats) as
    stats.json and PNG plots.

    `split`: None takes `default_split` (train, or every image of a file without splits); `all`
    takes every image."""
    from scenesmith.annotate.stats_plots import write_plots  # matplotlib only when writing a report

    source = Path(dataset)
    selected = load_dataset(source)
    reference = None
    if against is not None:  # a bad split fails here, before any work
        against, split, reference = _reference(Path(against), split)
    synthetic = compute_stats(selected)
    real = compute_stats(reference) if reference is not None else None
    distances = compare(synthetic, real) if real is not None else []
    out = Path(out_dir) if out_dir is not None else (source if source.is_dir() else source.parent) / "stats"
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "settings": {
            "image_short_side": IMAGE_SHORT_SIDE,
            "near_duplicate_distance": NEAR_DUPLICATE_DISTANCE,
            "source": str(source),
        },
        "synthetic": stats_to_json(synthetic),
    }
    if real is not None:
        document["settings"].update({"against": str(against), "split": split})
        document["real"] = stats_to_json(real)
        document["distances"] = [asdict(d) for d in distances]
    json_path = atomic_write_json(out / "stats.json", document)
    plots = write_plots(out, synthetic, real, distances)
    table = distance_table(distances, "synthetic", "real") if real is not None else summary_table(synthetic)
    return StatsReport(synthetic, real, distances, json_path, plots, table)
