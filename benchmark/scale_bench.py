"""Rendering at scale, measured: pipeline overhead, worker memory over a long run, and kills.

- `overhead`: full-pipeline wall time per image (`generate`: build, settle, render, annotate, write,
  on the worker pool) divided by the bare render time of the same scenes (the beauty `render()`
  call alone: Blender→Cycles sync, path tracing, denoising) measured in an otherwise idle worker.
  Both use the same settings; the pipeline number is its steady state (after the first image, which
  also pays for starting the worker), and the start-up is reported beside it.
- `memory`: one worker renders N images with recycling off; its RSS at image 50 and image N.
- `kills`: a `scenesmith generate` run whose render worker is SIGKILLed `kills` times; then every
  image is checked (present, readable, unique id) and counted.

They print and return numbers; no target is asserted here (targets belong in the closing notes).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import psutil

import scenesmith
from scenesmith.errors import UserError
from scenesmith.pipeline import WRITE_BACKLOG, generate_dataset, render_settings
from scenesmith.procedural.build import build_scene
from scenesmith.procedural.loader import load_scene
from scenesmith.render.pool import LocalPool, PoolConfig
from scenesmith.render.worker import RenderJob


def machine() -> dict[str, Any]:
    return {
        "cpu_count": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "scenesmith_version": scenesmith.__version__,
    }


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "median": statistics.median(values), "n": len(values)}


def overhead(
    scene: str, overrides: Sequence[str], count: int, seed: int = 0, device: str = "auto"
) -> dict[str, Any]:
    """Pipeline seconds per image ÷ bare beauty-render seconds per image, same scenes and settings."""
    loaded = load_scene(scene, overrides)
    settings = render_settings(loaded, device)
    jobs = [RenderJob(i, build_scene(loaded.rules, seed, i)) for i in range(count)]
    bare = [r.passes.timings["render_beauty"] for r in LocalPool(settings, PoolConfig(workers=1)).run(jobs)][
        1:
    ]  # the first render of a fresh worker includes Cycles' own start-up
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        out = generate_dataset(
            scene, overrides, count, seed, Path(tmp) / "data", device=device, progress=False
        )
        wall = time.perf_counter() - started
        manifest = json.loads((out / "manifest.json").read_text())
    pace = manifest["last_run"]
    steady = (pace["seconds"] - pace["first_image_seconds"]) / (pace["images"] - 1)
    per_stage = {k: v / count for k, v in manifest["timings_s"].items()}
    return {
        "scene": loaded.rules.name,
        "resolution": list(loaded.rules.render.resolution),
        "samples": settings.samples,
        "adaptive_threshold": settings.adaptive_threshold,
        "denoise": settings.denoise,
        "images": count,
        "bare_render_seconds": _stats(bare),
        "pipeline_seconds_per_image": steady,
        "overhead_ratio": steady / statistics.fmean(bare),
        "images_per_second": 1.0 / steady,
        "first_image_seconds": pace["first_image_seconds"],
        "command_wall_seconds": wall,
        "stage_seconds_per_image": per_stage,
    }


def memory(scene: str, overrides: Sequence[str], count: int, seed: int = 0, device: str = "auto") -> dict:
    """RSS of one never-recycled worker along a long run (images built ahead in a thread)."""
    from scenesmith.background import prefetched

    loaded = load_scene(scene, overrides)
    jobs = prefetched(RenderJob(i, build_scene(loaded.rules, seed, i)) for i in range(count))
    rss: dict[int, float] = {}
    started = time.perf_counter()
    for result in LocalPool(render_settings(loaded, device), PoolConfig(workers=1)).run(jobs):
        rss[result.worker_images] = result.rss_mb
    checkpoints = sorted({1, 10, min(50, count), count // 2, count})
    growth = rss[count] - rss[min(50, count)]
    return {
        "scene": loaded.rules.name,
        "resolution": list(loaded.rules.render.resolution),
        "images": count,
        "rss_mb_at_image": {str(k): rss[k] for k in checkpoints},
        "rss_growth_mb_from_50": growth,
        "seconds": time.perf_counter() - started,
    }


def _worker_pids(parent: psutil.Process) -> list[int]:
    try:
        # Spawned render workers run multiprocessing's spawn_main (the resource tracker does not).
        return [c.pid for c in parent.children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
    except psutil.Error:
        return []


def kills(
    scene: str,
    overrides: Sequence[str],
    count: int,
    kills: int,
    out: Path,
    seed: int = 0,
    device: str = "cpu",
) -> dict:
    """Kill the render worker of a real `scenesmith generate` run `kills` times, then audit the dataset.

    A kill is timed by images on disk, which trail the renders by up to the write backlog plus the
    worker's prefetch: every kill lands with more images than that still to come, so it hits a worker
    with work in hand, not one that already finished and is shutting down (a death the run rightly
    never records, which made the count of recorded deaths flaky).
    """
    lead = WRITE_BACKLOG + PoolConfig().prefetch + 1  # images rendered beyond those written, at most
    if count - lead < kills:  # checked before the run starts, which would go on without this process
        raise UserError(f"--count: {kills} kill(s) need more than {lead + kills - 1} images, not {count}")
    if out.exists():
        raise UserError(f"--out {out}: exists; the kill benchmark audits a dataset it makes from nothing")
    load_scene(scene, list(overrides))  # a bad scene is refused here, not inside the child run
    cmd = [sys.executable, "-m", "scenesmith", "generate", scene, "--count", str(count), "--seed", str(seed),
           "--out", str(out), "--quiet", "--device", device]  # fmt: skip
    for override in overrides:
        cmd += ["--set", override]
    # Its messages go to a file, not a pipe read only at the end: tracebacks of the killed workers
    # would fill a pipe's 64 KB and stall the run under test (and this loop with it).
    with tempfile.TemporaryFile(mode="w+") as messages:
        process = subprocess.Popen(cmd, stderr=messages, text=True)
        parent = psutil.Process(process.pid)
        killed: list[dict[str, int]] = []
        started = time.perf_counter()
        targets = [round((count - lead) * (k + 1) / (kills + 1)) for k in range(kills)]
        while process.poll() is None:
            done = len(list((out / "meta").glob("*.json"))) if (out / "meta").exists() else 0
            pids = _worker_pids(parent)
            if len(killed) < kills and done >= targets[len(killed)] and pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append({"pid": pids[0], "after_images": done})
            time.sleep(0.05)
        messages.seek(0)
        stderr = messages.read()
    if not (out / "manifest.json").is_file():  # the run failed before it began: its own message says why
        last = (stderr.strip().splitlines() or ["(no message)"])[-1]
        raise UserError(f"the generate run under test failed to start: {last}")
    coco = json.loads((out / "annotations.json").read_text()) if process.returncode == 0 else {"images": []}
    ids = [image["id"] for image in coco["images"]]
    unreadable = [i["file_name"] for i in coco["images"] if cv2.imread(str(out / i["file_name"])) is None]
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "count": count,
        "exit_code": process.returncode,
        "killed": killed,
        "images_in_coco": len(ids),
        "unique_ids": len(set(ids)),
        "ids_are_1_to_n": sorted(ids) == list(range(1, count + 1)),
        "unreadable_images": unreadable,
        "meta_files": len(list((out / "meta").glob("*.json"))),
        "worker_events": manifest.get("worker_events", []),
        "seconds": time.perf_counter() - started,
        "stderr_tail": stderr[-2000:],
    }
