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

from tqdm import tqdm

from scenesmith.procedural.description import SceneDescription
from scenesmith.render.pool import LocalPool, PoolConfig
from scenesmith.render.presets import samples_for_budget
from scenesmith.render.settings import RenderSettings
from scenesmith.render.worker import RenderJob

# Two probe sample counts give the fixed (per-image) and per-sample cost by a straight line.
PROBE_SAMPLES = (4, 16)
PROBE_IMAGES = 3  # the first render of a fresh worker also pays for Cycles' start-up: dropped
# The larger probe must take this share longer than the smaller one for the per-sample cost to count as
# measured: below it, timing noise on a loaded machine decides the line's slope.
TIMING_NOISE = 0.02
# At most this many times the larger probe's samples: a line measured over 4–16 samples is a guess at
# thousands (a slope just above noise predicted 4096 samples in the budget).
MAX_EXTRAPOLATION = 8


def _worker_seconds(timings: dict[str, float]) -> float:
    """What the render worker spends on one image: the rate-limiting stage of the pipeline."""
    return sum(timings.get(stage, 0.0) for stage in ("setup", "render", "readback", "cleanup", "sensor"))


def calibrate_samples(
    probes: list[SceneDescription], settings: RenderSettings, budget_seconds: float, progress: bool = True
) -> dict[str, Any]:
    """Render the probe scenes (the dataset's first `PROBE_IMAGES`) at two sample counts; return the
    chosen count and the fit. A progress bar, as this takes two Blender starts and a few renders."""
    jobs = [RenderJob(i, description) for i, description in enumerate(probes)]
    seconds = {}
    with tqdm(
        total=len(PROBE_SAMPLES) * len(jobs), desc="time budget: timing probe renders", unit="img",
        disable=not progress,
    ) as bar:  # fmt: skip
        for samples in PROBE_SAMPLES:
            pool = LocalPool(replace(settings, samples=samples), PoolConfig(workers=1))
            results = []
            for result in pool.run(jobs):
                results.append(result)
                bar.update()
            results.sort(key=lambda r: r.job.index)
            seconds[samples] = statistics.fmean(_worker_seconds(r.passes.timings) for r in results[1:])
    return samples_from_probes(seconds, budget_seconds)


def samples_from_probes(seconds: dict[int, float], budget_seconds: float) -> dict[str, Any]:
    """The sample count for the budget from two probe timings (samples → seconds per image), and the fit.

    Where the larger probe is not measurably slower, the per-sample cost is unknown: the larger probe's
    count is taken if it fits the budget (else the smaller one's), with nothing extrapolated."""
    (low, t_low), (high, t_high) = sorted(seconds.items())
    fit: dict[str, Any] = {
        "budget_seconds": budget_seconds,
        "probe_seconds": {str(k): v for k, v in seconds.items()},
    }
    if t_high - t_low <= TIMING_NOISE * t_low:
        chosen = high if t_high <= budget_seconds else low
        return {
            **fit,
            "samples": chosen,
            "fixed_seconds": None,
            "seconds_per_sample": None,  # below timing noise
            "predicted_seconds": seconds[chosen],
        }
    per_sample = (t_high - t_low) / (high - low)
    fixed = max(0.0, t_low - per_sample * low)
    chosen = samples_for_budget(
        high, max(t_high, fixed + per_sample * high), fixed, budget_seconds, maximum=MAX_EXTRAPOLATION * high
    )
    return {
        **fit,
        "samples": chosen,
        "fixed_seconds": fixed,
        "seconds_per_sample": per_sample,
        "predicted_seconds": fixed + per_sample * chosen,
    }
