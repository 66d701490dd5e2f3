"""`--time-budget SECONDS`: pick the Cycles sample count that renders one image in about that time.

Why calibrate once per dataset rather than per image: a dataset must be regenerable exactly, and a
sample count that moved with the machine's load would make two runs of one command differ. So the
count is measured once, on this scene and machine, then fixed: it is written into the manifest and
into every image's metadata, resumed runs reuse it, and `--samples N` with the recorded N
regenerates the dataset anywhere.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any

from scenesmith.procedural.description import SceneDescription
from scenesmith.render.pool import LocalPool, PoolConfig
from scenesmith.render.presets import samples_for_budget
from scenesmith.render.settings import RenderSettings
from scenesmith.render.worker import RenderJob

# Two probe sample counts give the fixed (per-image) and per-sample cost by a straight line.
PROBE_SAMPLES = (4, 16)
PROBE_IMAGES = 3  # the first render of a fresh worker also pays for Cycles' start-up: dropped


def _worker_seconds(timings: dict[str, float]) -> float:
    """What the render worker spends on one image: the rate-limiting stage of the pipeline."""
    return sum(timings.get(stage, 0.0) for stage in ("setup", "render", "readback", "cleanup", "sensor"))


def calibrate_samples(
    probes: list[SceneDescription], settings: RenderSettings, budget_seconds: float
) -> dict[str, Any]:
    """Render the probe scenes (the dataset's first `PROBE_IMAGES`) at two sample counts; return the
    chosen count and the fit."""
    jobs = [RenderJob(i, description) for i, description in enumerate(probes)]
    seconds = {}
    for samples in PROBE_SAMPLES:
        pool = LocalPool(replace(settings, samples=samples), PoolConfig(workers=1))
        results = sorted(pool.run(jobs), key=lambda r: r.job.index)
        seconds[samples] = statistics.fmean(_worker_seconds(r.passes.timings) for r in results[1:])
    (low, t_low), (high, t_high) = sorted(seconds.items())
    per_sample = max((t_high - t_low) / (high - low), 1e-9)
    fixed = max(0.0, t_low - per_sample * low)
    chosen = samples_for_budget(high, max(t_high, fixed + per_sample * high), fixed, budget_seconds)
    return {
        "budget_seconds": budget_seconds,
        "samples": chosen,
        "probe_seconds": {str(k): v for k, v in seconds.items()},
        "fixed_seconds": fixed,
        "seconds_per_sample": per_sample,
        "predicted_seconds": fixed + per_sample * chosen,
    }
