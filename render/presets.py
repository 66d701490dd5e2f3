"""Named render quality presets and a sample-count-for-time-budget rule (bpy-free, plain data).

Every preset turns on adaptive sampling and denoising. The denoiser itself is not a preset field:
`BlenderRenderer` picks it by device (OptiX on an OptiX GPU, OpenImageDenoise otherwise).

Why these values. Cycles' adaptive sampling stops a pixel once its estimated noise falls below
`adaptive_threshold`; `samples` is only the cap for the pixels that never get there (glossy
highlights, soft shadow edges). Noise falls like 1/sqrt(samples), so each halving of the threshold
costs about 4x the samples on the hard pixels, while flat areas (background, matte tabletop) stop
early at every level. The thresholds therefore follow Blender's own defaults:

- `draft` (16 samples, threshold 0.1): Blender's *viewport* noise threshold. For previews and
  checking that a scene's rules look right; OIDN hides most of the remaining noise, but fine
  texture (speckle, dirt) is smeared.
- `standard` (64 samples, threshold 0.02): training data. Residual noise of ~2 % is ~5 LSB of an
  8-bit image before denoising, below the augmentation noise a detector is trained with, at about
  4x the draft cost.
- `final` (512 samples, threshold 0.01): Blender's *final render* noise threshold, with the cap
  lowered from Blender's 4096 to 512 so that a few caustic or glossy pixels cannot make one image
  8x slower than the rest of the dataset. For showcase images and test sets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields, replace
from types import MappingProxyType
from typing import Any

from scenesmith.render.settings import RenderSettings

PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "draft": MappingProxyType({"samples": 16, "adaptive_threshold": 0.1, "denoise": True}),
        "standard": MappingProxyType({"samples": 64, "adaptive_threshold": 0.02, "denoise": True}),
        "final": MappingProxyType({"samples": 512, "adaptive_threshold": 0.01, "denoise": True}),
    }
)


def apply_preset(settings: RenderSettings, name: str) -> RenderSettings:
    """A copy of `settings` with preset `name`'s fields replaced; everything else (device, view
    transform, threads, ...) is kept. The input is not modified.

    Raises ValueError naming the valid presets for an unknown name.
    """
    if name is None:
        raise ValueError(f"unknown render preset None; valid presets: {', '.join(PRESETS)}")
    values = preset_rules(name)
    known = {f.name for f in fields(RenderSettings)}
    unknown = set(values) - known
    if unknown:  # pragma: no cover - guards edits of PRESETS; a test checks every field exists
        raise ValueError(f"preset {name!r} sets unknown RenderSettings fields: {sorted(unknown)}")
    return replace(settings, **values)


def samples_for_budget(
    probe_samples: int,
    probe_seconds: float,
    fixed_seconds: float,
    budget_seconds: float,
    minimum: int = 1,
    maximum: int = 4096,
) -> int:
    """Cycles samples so that one image costs about `budget_seconds`, from one timed probe render.

    Model: seconds(samples) = fixed_seconds + per_sample * samples, where `fixed_seconds` is what
    does not scale with samples (scene setup, label render, BVH build, denoising, read-back) and
    per_sample = (probe_seconds - fixed_seconds) / probe_samples comes from a probe render of the
    same scene at `probe_samples` samples taking `probe_seconds` in total. Why linear: Cycles
    path-traces samples one after another with the same per-sample work, so after the fixed part
    the time grows in proportion. Adaptive sampling makes it sub-linear (converged pixels stop),
    so extrapolating from a probe with fewer samples than the answer errs towards staying within
    budget; probe low, e.g. 8-16 samples.

    Returns floor((budget - fixed) / per_sample), i.e. the most samples predicted to fit in the
    budget (the prediction is within one sample's cost below it), clamped to [minimum, maximum].
    A budget the fixed cost alone already uses up gives `minimum`: Cycles needs at least one
    sample, and fewer samples cannot save time that is not spent sampling.

    Raises ValueError for a non-positive or non-finite budget, a probe with fewer than 1 sample,
    a negative fixed cost, a probe no slower than the fixed cost (nothing to extrapolate from:
    probe with more samples), or minimum < 1 or maximum < minimum.
    """
    if not (math.isfinite(budget_seconds) and budget_seconds > 0):
        raise ValueError(f"budget_seconds must be a positive number, got {budget_seconds}")
    if int(probe_samples) != probe_samples or probe_samples < 1:
        raise ValueError(f"probe_samples must be a whole number >= 1, got {probe_samples}")
    if not (math.isfinite(fixed_seconds) and fixed_seconds >= 0):
        raise ValueError(f"fixed_seconds must be a number >= 0, got {fixed_seconds}")
    if not (math.isfinite(probe_seconds) and probe_seconds > fixed_seconds):
        raise ValueError(
            f"probe_seconds ({probe_seconds}) must exceed fixed_seconds ({fixed_seconds}): the probe "
            "spent no measurable time sampling; probe with more samples"
        )
    if int(minimum) != minimum or minimum < 1:
        raise ValueError(f"minimum must be a whole number >= 1, got {minimum}")
    if int(maximum) != maximum or maximum < minimum:
        raise ValueError(f"maximum must be a whole number >= minimum ({minimum}), got {maximum}")
    minimum, maximum = int(minimum), int(maximum)
    if budget_seconds <= fixed_seconds:
        return minimum
    per_sample = (probe_seconds - fixed_seconds) / probe_samples
    if per_sample <= 0:  # underflow of a tiny difference: sampling is free as far as we can measure
        return maximum
    fitting = (budget_seconds - fixed_seconds) / per_sample
    if not fitting < maximum:  # also catches inf from a vanishing per-sample cost
        return maximum
    # The tiny slack keeps e.g. 2.9999999999 (float error on an exact 3) from rounding down to 2.
    return max(minimum, math.floor(fitting * (1 + 1e-12)))


def preset_rules(name: str | None) -> dict[str, Any]:
    """The settings a preset sets (empty for None); the CLI applies them as `render.*` rule overrides."""
    if name is None:
        return {}
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"unknown render preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return dict(PRESETS[name])
