"""The one-way pipeline, end to end: rules → scene description → render → labels → files.

Two front doors share it: `generate_dataset` writes a resumable dataset folder (the CLI), and
`generate` returns arrays in memory (the Python API). A dataset folder is identified by a hash of
everything that determines its pixels and labels except the image count, so rerunning the same
command resumes it, asking for more images extends it, and anything else is refused rather than
mixed in.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import scenesmith
from scenesmith.annotate.atomic import atomic_write_json, remove_stale_temp_files
from scenesmith.annotate.dataset_writer import completed_indices, semantic_map, write_coco, write_sample
from scenesmith.annotate.labels import ImageLabels, label_image
from scenesmith.errors import UserError
from scenesmith.procedural.build import build_scene
from scenesmith.procedural.description import SceneDescription
from scenesmith.procedural.loader import LoadedScene, load_scene
from scenesmith.render.settings import RenderSettings

MANIFEST = "manifest.json"


def render_settings(loaded: LoadedScene, device: str = "auto") -> RenderSettings:
    rule = loaded.rules.render
    return RenderSettings(
        samples=rule.samples,
        denoise=rule.denoise,
        view_transform=rule.view_transform,
        exposure=rule.exposure,
        device=device,
    )


def render_overrides(resolution: tuple[int, int] | None, samples: int | None) -> list[str]:
    """`--resolution`/`--samples` as rule overrides, so they enter the dataset's identity like any rule."""
    extra = []
    if resolution is not None:
        extra.append(f"render.resolution=[{int(resolution[0])}, {int(resolution[1])}]")
    if samples is not None:
        extra.append(f"render.samples={int(samples)}")
    return extra


def dataset_identity(loaded: LoadedScene, seed: int, image_format: str) -> dict[str, Any]:
    """What defines a dataset's content (not its size): scene rules after overrides, seed, format."""
    identity = {
        "scenesmith_version": scenesmith.__version__,
        "rules_sha256": loaded.rules_hash,
        "seed": seed,
        "image_format": image_format,
        "resolution": list(loaded.rules.render.resolution),
        "samples": loaded.rules.render.samples,
    }
    identity["dataset_key"] = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return identity


def _check_output_folder(out_dir: Path, identity: dict[str, Any], count: int) -> dict[str, Any] | None:
    """Refuse to mix datasets; return the existing manifest when resuming."""
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return None
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        raise UserError(
            f"{out_dir}: folder is not empty and holds no scenesmith dataset; choose another --out"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        existing_key = manifest["identity"]["dataset_key"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{manifest_path}: unreadable manifest; choose another --out") from None
    if existing_key != identity["dataset_key"]:
        differing = [k for k in identity if k != "dataset_key" and manifest["identity"].get(k) != identity[k]]
        raise UserError(
            f"{out_dir}: holds a different dataset (differs in: {', '.join(differing) or 'dataset key'}); "
            "it is never overwritten — choose another --out"
        )
    done = len(completed_indices(out_dir))
    if count < manifest.get("count", 0) and done > count:
        raise UserError(f"{out_dir}: already holds {done} images; the count of a dataset can only grow")
    return manifest


@dataclass
class StageClock:
    """Accumulates seconds per pipeline stage (for the manifest and the benchmark)."""

    totals: dict[str, float]

    def add(self, stage: str, seconds: float) -> None:
        self.totals[stage] = self.totals.get(stage, 0.0) + seconds


def generate_dataset(
    scene: str,
    overrides: Sequence[str] = (),
    count: int = 10,
    seed: int = 0,
    out_dir: Path = Path("out"),
    image_format: str = "png",
    device: str = "auto",
    progress: bool = True,
) -> Path:
    """Render `count` labelled images into `out_dir` (resuming whatever is already complete there)."""
    from scenesmith.render.blender import BlenderRenderer

    loaded = load_scene(scene, overrides)
    identity = dataset_identity(loaded, seed, image_format)
    out_dir = Path(out_dir)
    previous = _check_output_folder(out_dir, identity, count)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out_dir)  # half-written files of a run that was killed
    settings = render_settings(loaded, device)
    clock = StageClock(dict(previous.get("timings_s", {})) if previous else {})
    manifest: dict[str, Any] = {
        "scenesmith_version": scenesmith.__version__,
        "identity": identity,
        "count": max(count, previous.get("count", 0) if previous else 0),
        "status": "in_progress",
        "scene": {
            "source": loaded.source,
            "file_sha256": loaded.file_hash,
            "rules": loaded.rules.model_dump(mode="json"),
        },
        "overrides": list(overrides),
        "seed": seed,
        "render_settings": settings.as_dict(),
        "timings_s": clock.totals,
    }
    atomic_write_json(out_dir / MANIFEST, manifest)

    todo = sorted(set(range(count)) - completed_indices(out_dir))
    if todo:
        renderer = BlenderRenderer(settings)
        try:
            for index in tqdm(todo, desc=f"{loaded.rules.name}", unit="img", disable=not progress):
                started = time.perf_counter()
                desc = build_scene(loaded.rules, seed, index)
                clock.add("build_scene", time.perf_counter() - started)
                passes = renderer.render(desc)
                for stage, seconds in passes.timings.items():
                    clock.add(f"render_{stage}", seconds)
                started = time.perf_counter()
                meta = write_sample(out_dir, index, desc, passes, image_format=image_format)
                clock.add("annotate_and_write", time.perf_counter() - started)
                manifest["render_settings_used"] = meta["render"]["settings"]
                atomic_write_json(out_dir / MANIFEST, manifest)  # a killed run keeps its render time
        finally:
            renderer.close()
            atomic_write_json(out_dir / MANIFEST, manifest)

    started = time.perf_counter()
    write_coco(
        out_dir, categories=[c.model_dump() for c in loaded.rules.categories], info=_coco_info(manifest)
    )
    clock.add("write_coco", time.perf_counter() - started)
    manifest["status"] = "complete"
    atomic_write_json(out_dir / MANIFEST, manifest)
    return out_dir


def _coco_info(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": f"scenesmith synthetic dataset of scene {manifest['scene']['rules']['name']}",
        "version": manifest["scenesmith_version"],
        "dataset_key": manifest["identity"]["dataset_key"],
        "seed": manifest["seed"],
    }


@dataclass
class Sample:
    """One rendered image with its labels, in memory (the array API)."""

    index: int
    rgb: np.ndarray
    instance: np.ndarray
    semantic: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    labels: ImageLabels
    description: SceneDescription


def iter_samples(
    scene: str,
    count: int,
    seed: int = 0,
    overrides: Sequence[str] = (),
    start: int = 0,
    device: str = "auto",
) -> Iterator[Sample]:
    """Yield samples start … start+count−1; sample k equals image k of a dataset with the same seed."""
    from scenesmith.render.blender import BlenderRenderer

    if count < 0 or start < 0:
        raise UserError(f"count and start must be >= 0, got {count}, {start}")
    loaded = load_scene(scene, overrides)
    with BlenderRenderer(render_settings(loaded, device)) as renderer:
        for index in range(start, start + count):
            desc = build_scene(loaded.rules, seed, index)
            passes = renderer.render(desc)
            yield Sample(
                index=index,
                rgb=passes.rgb,
                instance=passes.instance,
                semantic=semantic_map(passes.instance, desc),
                depth=passes.depth,
                normal=passes.normal,
                labels=label_image(desc, passes, image_id=index + 1),
                description=desc,
            )


def generate(
    scene: str,
    count: int,
    seed: int = 0,
    overrides: Sequence[str] = (),
    resolution: tuple[int, int] | None = None,
    samples: int | None = None,
    device: str = "auto",
) -> list[Sample]:
    """Images and labels as arrays, for users who don't want files."""
    extra = [*overrides, *render_overrides(resolution, samples)]
    return list(iter_samples(scene, count, seed, extra, device=device))
