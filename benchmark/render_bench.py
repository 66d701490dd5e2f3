"""`scenesmith bench render`: where the time of one labelled image goes, stage by stage.

Stages per image: scene build (procedural), Blender scene setup, Cycles render (split into the
1-sample label render and the beauty render), read-back of the passes, annotation (labels from
passes), writing (files). It prints and returns numbers; it never
asserts a target (speed targets live here, not in tests).
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

import scenesmith
from scenesmith.annotate.dataset_writer import write_sample
from scenesmith.annotate.labels import label_image
from scenesmith.pipeline import render_settings
from scenesmith.procedural.build import build_scene
from scenesmith.procedural.loader import load_scene


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def run_render_benchmark(
    scene: str = "dice_tray",
    overrides: Sequence[str] = (),
    count: int = 5,
    seed: int = 0,
    device: str = "auto",
    warmup: int = 1,
) -> dict[str, Any]:
    """Render `warmup` + `count` images of `scene`; report seconds per image and stage, images/s, RSS."""
    from scenesmith.render.blender import BlenderRenderer
    from scenesmith.render.devices import check_device

    loaded = load_scene(scene, overrides)
    process = psutil.Process()
    stages: dict[str, list[float]] = {
        k: []
        for k in (
            "build",
            "setup",
            "render",
            "render_labels",
            "render_beauty",
            "readback",
            "annotate",
            "write",
        )
    }
    totals: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, BlenderRenderer(render_settings(loaded, device)) as renderer:
        check_device(device, renderer.device.as_dict(), "in this process")  # not timed on the CPU first
        peak_rss = process.memory_info().rss
        for index in range(warmup + count):
            started = time.perf_counter()
            desc = build_scene(loaded.rules, seed, index)
            built = time.perf_counter()
            passes = renderer.render(desc)
            rendered = time.perf_counter()
            labels = label_image(desc, passes, image_id=index + 1)
            labelled = time.perf_counter()
            write_sample(Path(tmp), index, desc, passes, labels=labels)
            written = time.perf_counter()
            peak_rss = max(peak_rss, process.memory_info().rss)
            if index < warmup:
                continue
            stages["build"].append(built - started)
            for stage in ("setup", "render", "render_labels", "render_beauty", "readback"):
                stages[stage].append(passes.timings.get(stage, 0.0))
            stages["annotate"].append(labelled - rendered)
            stages["write"].append(written - labelled)
            totals.append(written - started)
        settings_used = passes.settings
    seconds = statistics.fmean(totals)
    return {
        "scene": loaded.rules.name,
        "resolution": list(loaded.rules.render.resolution),
        "samples": loaded.rules.render.samples,
        "count": count,
        "warmup": warmup,
        "seconds_per_image": {name: _summary(values) for name, values in stages.items()}
        | {"total": _summary(totals)},
        "images_per_second": 1.0 / seconds,
        "peak_rss_mb": peak_rss / 2**20,
        "render_settings": settings_used,
        "machine": {
            "cpu_count": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
            "processor": platform.processor(),
        },
        "scenesmith_version": scenesmith.__version__,
    }
